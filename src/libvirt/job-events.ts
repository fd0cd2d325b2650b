// Waiting for a domain's job to end without `--wait` (virsh polls every 500 ms) or a poll per
// 50 ms for the whole job (one process each): most jobs of a small run end within a few tight
// polls; a longer one is waited for on libvirt's own event, `virsh event --event ... --timeout 1`.
import { setTimeout as sleep } from "node:timers/promises";
import type { Context } from "../context.js";

export const TIGHT_POLL_MS = 50;
export const TIGHT_FOR_MS = 500;
/** Seconds one `virsh event` waits: an event that came just before it started is seen this late. */
export const EVENT_TIMEOUT_S = 1;

/** job-completed ends a backup job (virDomainBackupBegin), block-job-2 a block job. */
export type JobEvent = "job-completed" | "block-job-2";

/**
 * Calls `ended` until it says the job is over: every 50 ms for the first 0.5 s, then once after
 * each event (or a second without one). `ended` also decides what an interrupted run does.
 */
export async function waitForJobEnd(
  ctx: Context,
  domain: string,
  event: JobEvent,
  ended: () => Promise<boolean>,
): Promise<void> {
  const started = Date.now();
  while (!(await ended())) {
    if (Date.now() - started < TIGHT_FOR_MS) {
      await sleep(TIGHT_POLL_MS);
      continue;
    }
    // A timeout exits 1 and an interrupted wait throws: either way `ended` looks again.
    await ctx
      .run(ctx.virsh.eventWait(domain, event, EVENT_TIMEOUT_S), { signal: ctx.signal })
      .catch(() => {});
  }
}
