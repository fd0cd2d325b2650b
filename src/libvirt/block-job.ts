import { setTimeout as sleep } from "node:timers/promises";
import type { Context } from "../context.js";
import { blockJobFraction } from "../progress.js";
import { waitForJobEnd } from "./job-events.js";

/**
 * Waits until the disk has no block job left. A finished non-active commit leaves nothing behind,
 * a failed one neither: callers check the resulting chain, which says which of the two it was.
 */
export async function waitForBlockJob(ctx: Context, domain: string, target: string): Promise<void> {
  try {
    await waitForJobEnd(ctx, domain, "block-job-2", async () => {
      const { stdout } = await ctx.run(ctx.virsh.blockJobInfo(domain, target));
      if (stdout.trim() === "") return true;
      const fraction = blockJobFraction(stdout);
      if (fraction !== undefined) ctx.progress.update(`${target}: block commit`, fraction);
      return false;
    });
  } finally {
    ctx.progress.clear();
  }
}

/**
 * Runs a block job a killed run left behind to its end: a commit finishes by itself, an active
 * commit waits "ready" for a pivot that never came (virsh died in --wait --pivot), so pivot it.
 * Returns whether there was a job.
 */
export async function settleBlockJob(
  ctx: Context,
  domain: string,
  target: string,
): Promise<boolean> {
  let seen = false;
  for (;;) {
    const raw = (await ctx.run(ctx.virsh.blockJobInfo(domain, target))).stdout.trim();
    if (raw === "") return seen;
    seen = true;
    const ready =
      /Active Block Commit/.test(raw) && /cur=(\d+)/.exec(raw)?.[1] === /end=(\d+)/.exec(raw)?.[1];
    if (ready) await ctx.run(ctx.virsh.blockJobPivot(domain, target)).catch(() => {});
    await sleep(50);
  }
}
