import type { Context } from "../context.js";
import { OperationError } from "../errors.js";
import { parseJobInfo } from "../libvirt/backup-xml.js";
import { waitForJobEnd } from "../libvirt/job-events.js";

/**
 * Polls the domain's job until it ends, then reads the completed record. libvirt writes that record
 * when a job ends, so once ours has ended it is ours. A failed job says no more than "Failed"; a
 * domain that stops ends the job as well.
 */
export async function waitForBackupJob(ctx: Context, domain: string): Promise<void> {
  try {
    await pollJob(ctx, domain);
  } finally {
    ctx.progress.clear();
  }
  const done = parseJobInfo(await jobInfo(ctx, domain, true));
  if (done.type !== "Completed") {
    throw new OperationError(
      `the backup job ended as '${done.type}' (target full, I/O error, or the domain stopped)`,
    );
  }
}

/** Tight polls, then libvirt's job-completed event (src/libvirt/job-events.ts). */
async function pollJob(ctx: Context, domain: string): Promise<void> {
  let lastReport = 0;
  await waitForJobEnd(ctx, domain, "job-completed", async () => {
    if (ctx.signal.aborted) {
      await ctx.run(ctx.virsh.jobAbort(domain)).catch(() => {});
      throw new OperationError("interrupted; the backup job was aborted");
    }
    const info = parseJobInfo(await jobInfo(ctx, domain, false));
    if (info.type === "None") return true;
    if (info.total && ctx.progress.enabled) {
      ctx.progress.update("backup job", (info.processed ?? 0) / info.total);
    } else if (info.total && Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      ctx.log.info(
        `backup job: ${Math.floor((100 * (info.processed ?? 0)) / info.total)}% of ${info.total} bytes`,
      );
    }
    return false;
  });
}

/** A domain that dies mid-job shows up as any of several virsh errors; ask libvirt what happened. */
async function jobInfo(ctx: Context, domain: string, completed: boolean): Promise<string> {
  try {
    return (
      await ctx.run(completed ? ctx.virsh.completedJobInfo(domain) : ctx.virsh.jobInfo(domain))
    ).stdout;
  } catch (error) {
    const state = await ctx.run(ctx.virsh.domState(domain)).then(
      (r) => r.stdout.trim(),
      () => "gone",
    );
    if (state === "running" || state === "paused") throw error;
    throw new OperationError(`the domain stopped during the backup job (it is ${state} now)`);
  }
}
