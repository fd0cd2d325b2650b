import { setTimeout as sleep } from "node:timers/promises";
import type { Context } from "../context.js";
import { CommandError, OperationError } from "../errors.js";
import { parseJobInfo } from "../libvirt/backup-xml.js";

/**
 * Polls the domain's job until it ends, then reads the completed record (which also clears it).
 * A job that fails keeps nothing useful but "Failed"; a domain that stops ends the job as well.
 */
export async function waitForBackupJob(ctx: Context, domain: string): Promise<void> {
  let lastReport = 0;
  for (;;) {
    if (ctx.signal.aborted) {
      await ctx.run(ctx.virsh.jobAbort(domain)).catch(() => {});
      throw new OperationError("interrupted; the backup job was aborted");
    }
    const info = parseJobInfo((await ctx.run(ctx.virsh.jobInfo(domain)).catch(domainGone)).stdout);
    if (info.type === "None") break;
    if (info.total && Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      ctx.log.info(
        `backup job: ${Math.floor((100 * (info.processed ?? 0)) / info.total)}% of ${info.total} bytes`,
      );
    }
    await sleep(100);
  }
  const done = parseJobInfo(
    (await ctx.run(ctx.virsh.completedJobInfo(domain)).catch(domainGone)).stdout,
  );
  if (done.type !== "Completed") {
    throw new OperationError(
      `the backup job ended as '${done.type}' (target full, I/O error, or the domain stopped)`,
    );
  }
}

function domainGone(error: unknown): never {
  if (
    error instanceof CommandError &&
    /not running|no domain|failed to get domain/i.test(error.stderr)
  ) {
    throw new OperationError("the domain stopped during the backup job");
  }
  throw error;
}

/** Forget a stale completed-job record, so the next read is about our job. */
export async function clearCompletedJob(ctx: Context, domain: string): Promise<void> {
  await ctx.run(ctx.virsh.completedJobInfo(domain)).catch(() => {});
}
