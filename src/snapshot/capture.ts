import fs from "node:fs/promises";
import path from "node:path";
import { commitFrozenLayers } from "../chain/consolidate.js";
import { bytesToCopy } from "../chain/live-chain.js";
import type { Context } from "../context.js";
import { describeIoError, OperationError } from "../errors.js";
import type { Journal } from "../journal.js";
import { inParallel } from "../parallel.js";
import { convertShowingProgress } from "../progress.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { captureBootFiles } from "../repo/boot-files.js";
import { newPoint, withPoint, writeCatalog } from "../repo/catalog.js";
import {
  commitHashed,
  prepareChainDir,
  removePointFiles,
  writeFileAtomic,
  writesPastTheCache,
} from "../repo/files.js";
import { Finishing, whileFlushing } from "../repo/finishing.js";
import { domainXmlFile, memoryFile, PARTIAL } from "../repo/paths.js";
import type {
  AuxFile,
  Domain,
  PointDisk,
  Quiesce,
  Repository,
  RestorePoint,
  Transfer,
} from "../types.js";
import { freeze, thaw } from "./freeze.js";
import type { DiskJob, SnapshotPlan } from "./plan.js";

/**
 * One snapshot-mode run (DESIGN.md, "Snapshot mode, one run"): freeze the top layers, copy them into
 * the repository, commit the catalog, then commit the frozen layers back so the live chain stays
 * `own image <- one overlay`. If anything fails before the catalog is written, the new overlays are
 * merged back and the domain is exactly as before the run.
 */
export async function snapshotBackup(
  ctx: Context,
  domain: Domain,
  plan: SnapshotPlan,
  repo: Repository,
  options: SnapshotOptions,
  journal: Journal<"backup.snapshot">,
): Promise<RestorePoint> {
  const { quiesce, transfer } = options;
  const inactiveXml = (await ctx.run(ctx.virsh.dumpXml(domain.name, true))).stdout;
  await prepareChainDir(repo.dir, plan.chain);
  const time = ctx.now().toISOString();
  // Only a running domain has memory to save.
  const memory =
    options.memoryState && domain.active ? memoryFile(plan.chain, plan.pointId) : undefined;
  await journal.step("freeze");
  const quiesced = await freeze(
    ctx,
    domain,
    plan,
    inactiveXml,
    quiesce,
    memory && path.join(repo.dir, memory) + PARTIAL,
  );
  let point: RestorePoint;
  const finishing = new Finishing(ctx, repo.dir, repo.catalog.format);
  try {
    await journal.step("copy");
    const { disks, files } = await copyPointFiles(
      ctx,
      domain,
      plan,
      repo,
      transfer,
      finishing,
      memory,
    );
    await journal.step("save-xml");
    await writeFileAtomic(
      path.join(repo.dir, domainXmlFile(plan.chain, plan.pointId)),
      inactiveXml,
    );
    point = newPoint(plan, { mode: "snapshot", time, quiesced, disks, files });
    await journal.step("catalog");
    await writeCatalog(repo.dir, withPoint(repo.catalog, point));
  } catch (error) {
    ctx.log.info(`backup of '${domain.name}' failed; putting the disks back as they were`);
    await finishing.settle();
    await removePointFiles(repo.dir, plan.chain, plan.pointId);
    await thaw(ctx, domain, plan, inactiveXml);
    throw error;
  }
  ctx.log.info(`point ${point.id} (${point.level}) saved`);
  await journal.step("commit-frozen");
  await shortenLiveChains(ctx, domain, plan, point, transfer.bandwidthMiB);
  return point;
}

export interface SnapshotOptions {
  quiesce: Quiesce;
  /** Save the running domain's RAM with the point (libvirt writes it during the snapshot). */
  memoryState: boolean;
  transfer: Transfer;
}

/** The boot files, the memory file and every disk's frozen layer, each checked and hashed. */
async function copyPointFiles(
  ctx: Context,
  domain: Domain,
  plan: SnapshotPlan,
  repo: Repository,
  transfer: Transfer,
  finishing: Finishing,
  memory: string | undefined,
): Promise<{ disks: PointDisk[]; files: AuxFile[] }> {
  // nvram and TPM state right after the freeze, so they match the disks as closely as they can.
  const boot = await captureBootFiles(ctx, domain, repo.dir, plan.chain, plan.pointId, plan.parent);
  const saved = memory ? [await finishMemoryFile(repo.dir, memory)] : [];
  for (const job of plan.jobs) {
    await copyFrozenLayer(ctx, domain, repo.dir, job, transfer);
    // Checked, flushed and hashed while the next disk copies.
    const whole = job.wholeReason ? { whole: true as const, reason: job.wholeReason } : {};
    finishing.add(job.file, job.target, job.frozen.virtualSize, whole);
  }
  return { disks: await finishing.disks(), files: [...saved, ...boot] };
}

/** The RAM file libvirt wrote as `<file>.partial`: checksummed, flushed, renamed. */
async function finishMemoryFile(domainDir: string, file: string): Promise<AuxFile> {
  const { sha256, bytes } = await commitHashed(path.join(domainDir, file));
  return { kind: "memory", file, bytes, sha256 };
}

/**
 * full: a thin flattened copy of the frozen chain; inc: the frozen overlay itself, relinked to the
 * parent (a plain file copy, or qemu-img when it compresses or keeps to a bandwidth). Leaves
 * `<file>.partial`, flushed as it was written.
 */
async function copyFrozenLayer(
  ctx: Context,
  domain: Domain,
  domainDir: string,
  job: DiskJob,
  transfer: Transfer,
): Promise<void> {
  const partial = path.join(domainDir, job.file) + PARTIAL;
  await whileFlushing([partial], () => copyInto(ctx, domain, partial, job, transfer));
}

async function copyInto(
  ctx: Context,
  domain: Domain,
  partial: string,
  job: DiskJob,
  transfer: Transfer,
): Promise<void> {
  ctx.log.info(
    `disk ${job.target}: copying ${job.level === "inc" ? "changes" : "all data"} to ${job.file}`,
  );
  const plainCopy = !transfer.compress && transfer.bandwidthMiB === undefined;
  if (job.level === "inc" && job.backing && !plainCopy) {
    const how = { shared: domain.active, transfer };
    const copy = qemuImg.copyLayer(job.frozen.file, partial, job.backing, how);
    await convertShowingProgress(ctx, copy, `${job.target}: copy`);
  } else if (job.level === "inc" && job.backing) {
    try {
      await fs.copyFile(job.frozen.file, partial);
    } catch (error) {
      throw describeIoError(error, `disk ${job.target}: copy to ${partial} failed`);
    }
    await ctx.run(qemuImg.relink(partial, job.backing, "qcow2"), { signal: ctx.signal });
  } else {
    const direct = await writesPastTheCache(partial, bytesToCopy(job.chain), ctx.log);
    const how = { shared: domain.active, transfer, direct };
    const flatten = qemuImg.flatten(job.frozen.file, partial, how);
    await convertShowingProgress(ctx, flatten, `${job.target}: copy`);
  }
}

/** After the point is safe: commit what the snapshot froze back into the own image. */
async function shortenLiveChains(
  ctx: Context,
  domain: Domain,
  plan: SnapshotPlan,
  point: RestorePoint,
  bandwidthMiB: number | undefined,
) {
  // Each disk's commit is a block job of its own: libvirt runs them side by side, so a domain with
  // n disks waits for the longest commit, not for the sum of them. --bandwidth limits each job, so
  // with it they run one at a time and the limit stays the limit of the run.
  const jobs = plan.jobs.filter((job) => job.frozen.file !== job.own.file);
  const atOnce = bandwidthMiB === undefined ? jobs.length : 1;
  const outcomes = await inParallel(jobs, atOnce, (job) =>
    commitFrozenLayers(ctx, domain, job.chain, job.overlay, bandwidthMiB).then(
      () => undefined,
      (error: Error) => {
        ctx.log.error(`disk ${job.target}: ${error.message}`);
        return job.target;
      },
    ),
  );
  const failed = outcomes.filter((target) => target !== undefined);
  if (failed.length > 0) {
    throw new OperationError(
      `point ${point.id} is saved, but the live chain of ${failed.join(", ")} is still long: run 'virtsnap consolidate ${domain.name}'`,
    );
  }
}
