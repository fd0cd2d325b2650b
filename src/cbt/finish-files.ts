import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { convertShowingProgress } from "../progress.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { Finishing } from "../repo/finishing.js";
import { COMPRESSING, PARTIAL } from "../repo/paths.js";
import type { PointDisk, Repository, Transfer } from "../types.js";
import type { CbtDiskJob, CbtPlan } from "./plan.js";

/** Each target checked, flushed and hashed, beside the compression of the next one (if any). */
export async function finishFiles(
  ctx: Context,
  repo: Repository,
  transfer: Transfer,
  plan: CbtPlan,
): Promise<PointDisk[]> {
  const finishing = new Finishing(ctx, repo.dir, repo.catalog.format);
  try {
    for (const job of plan.jobs) {
      if (transfer.compress) await compressTarget(ctx, repo.dir, job, transfer);
      const whole = job.wholeReason ? { whole: true as const, reason: job.wholeReason } : {};
      finishing.add(job.file, job.target, job.own.virtualSize, whole);
    }
    return await finishing.disks();
  } finally {
    // A failed compression must not leave a finishing still renaming files the undo removes.
    await finishing.settle();
  }
}

/** libvirt's push job cannot compress: the finished target is rewritten compressed, same backing. */
async function compressTarget(
  ctx: Context,
  domainDir: string,
  job: CbtDiskJob,
  transfer: Transfer,
): Promise<void> {
  const partial = path.join(domainDir, job.file) + PARTIAL;
  const compressed = path.join(domainDir, job.file) + COMPRESSING;
  try {
    const rewrite = job.backing
      ? qemuImg.copyLayer(partial, compressed, job.backing, { shared: false, transfer })
      : qemuImg.flatten(partial, compressed, { shared: false, transfer, direct: false });
    await convertShowingProgress(ctx, rewrite, `${job.target}: compress`);
    await fs.rename(compressed, partial);
  } finally {
    await fs.rm(compressed, { force: true });
  }
}
