import fs from "node:fs/promises";
import path from "node:path";
import { commitFrozenLayers } from "../chain/consolidate.js";
import { mergeBack } from "../chain/merge-back.js";
import type { Context } from "../context.js";
import { describeIoError, OperationError } from "../errors.js";
import type { Journal } from "../journal.js";
import { defineWithSources } from "../libvirt/define.js";
import { freezeAsAsked } from "../libvirt/quiesce.js";
import type { DiskSpec } from "../libvirt/virsh.js";
import { convertShowingProgress } from "../progress.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { captureBootFiles } from "../repo/boot-files.js";
import { withPoint, writeCatalog } from "../repo/catalog.js";
import { commitHashed, prepareChainDir, removePointFiles, writeFileAtomic } from "../repo/files.js";
import { Finishing, whileFlushing } from "../repo/finishing.js";
import { domainXmlFile, memoryFile, PARTIAL } from "../repo/paths.js";
import type { AuxFile, Domain, Quiesce, Repository, RestorePoint, Transfer } from "../types.js";
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
    // nvram and TPM state right after the freeze, so they match the disks as closely as they can.
    const boot = await captureBootFiles(
      ctx,
      domain,
      repo.dir,
      plan.chain,
      plan.pointId,
      plan.parent,
    );
    const saved = memory ? [await finishMemoryFile(repo.dir, memory)] : [];
    for (const job of plan.jobs) {
      await copyFrozenLayer(ctx, domain, repo.dir, job, transfer);
      // Checked, flushed and hashed while the next disk copies.
      const whole = job.wholeReason ? { whole: true as const, reason: job.wholeReason } : {};
      finishing.add(job.file, job.target, job.frozen.virtualSize, whole);
    }
    const disks = await finishing.disks();
    await journal.step("save-xml");
    await writeFileAtomic(
      path.join(repo.dir, domainXmlFile(plan.chain, plan.pointId)),
      inactiveXml,
    );
    point = {
      id: plan.pointId,
      time,
      mode: "snapshot",
      level: plan.level,
      chain: plan.chain,
      parent: plan.parent?.id ?? null,
      quiesced,
      disks,
      ...(plan.excluded?.length ? { excluded: plan.excluded } : {}),
      ...(saved.length + boot.length > 0 ? { files: [...saved, ...boot] } : {}),
    };
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

/** The RAM file libvirt wrote as `<file>.partial`: checksummed, flushed, renamed. */
async function finishMemoryFile(domainDir: string, file: string): Promise<AuxFile> {
  const { sha256, bytes } = await commitHashed(path.join(domainDir, file));
  return { kind: "memory", file, bytes, sha256 };
}

/**
 * The live snapshot, frozen through the guest agent as asked. With "try", a freeze that cannot
 * happen gives a crash-consistent point (see freezeAsAsked): an --atomic snapshot that failed
 * changed nothing, so it is simply taken again without --quiesce. Returns whether it was frozen.
 */
async function snapshotLive(
  ctx: Context,
  domain: Domain,
  specs: DiskSpec[],
  quiesce: Quiesce,
): Promise<boolean> {
  const frozen = await freezeAsAsked(ctx, domain, quiesce, () =>
    ctx.run(ctx.virsh.snapshotDiskOnly(domain.name, specs, true)),
  );
  if (!frozen) await ctx.run(ctx.virsh.snapshotDiskOnly(domain.name, specs, false));
  return frozen;
}

/** Every selected disk gets a new overlay on top; the layer below it is frozen from now on. */
async function freeze(
  ctx: Context,
  domain: Domain,
  plan: SnapshotPlan,
  inactiveXml: string,
  quiesce: Quiesce,
  memoryPartial: string | undefined,
): Promise<boolean> {
  const chosen = new Set(plan.jobs.map((j) => j.target));
  await makeBlockOverlayDirs(plan);
  if (domain.active) {
    // A disk left out of --diskspec still gets an overlay libvirt names itself (LAB.md): list them all.
    const specs = [
      ...plan.jobs.map((j) => ({ target: j.target, overlay: j.overlay })),
      ...domain.disks
        .filter((d) => !chosen.has(d.target))
        .map((d) => ({ target: d.target, skip: true as const })),
    ];
    if (memoryPartial) {
      await ctx.run(ctx.virsh.snapshotWithMemory(domain.name, specs, memoryPartial));
      return false;
    }
    return snapshotLive(ctx, domain, specs, quiesce);
  }
  // Shut off: qemu-img makes the overlays (libvirt's own offline snapshot takes 8-13 s, LAB.md).
  try {
    for (const job of plan.jobs)
      await ctx.run(qemuImg.createOverlay(job.overlay, job.frozen.file, job.frozen.format));
    const sources = new Map(plan.jobs.map((j) => [j.target, { file: j.overlay, format: "qcow2" }]));
    await defineWithSources(ctx, inactiveXml, sources);
  } catch (error) {
    // Nothing uses the new (empty, uniquely named) overlays until the define succeeded.
    for (const job of plan.jobs) await fs.rm(job.overlay, { force: true });
    throw error;
  }
  return false;
}

/**
 * A block device's overlay goes into virtsnap's own folder (BLOCK_OVERLAY_DIR/<domain>/), which QEMU
 * must be able to walk into: search-only for others (0711), nothing in it can be listed.
 */
async function makeBlockOverlayDirs(plan: SnapshotPlan): Promise<void> {
  for (const job of plan.jobs.filter((j) => j.own.block)) {
    const dir = path.dirname(job.overlay);
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o711 });
      await fs.chmod(dir, 0o711);
    } catch (error) {
      throw describeIoError(error, `disk ${job.target}: cannot create overlay folder ${dir}`);
    }
  }
}

/** Undo `freeze`: merge each new overlay back into the layer below it (uncancellable). */
async function thaw(
  ctx: Context,
  domain: Domain,
  plan: SnapshotPlan,
  inactiveXml: string,
): Promise<void> {
  for (const job of plan.jobs) {
    try {
      await mergeBack(ctx, domain, job.target, job.overlay, job.frozen, inactiveXml);
    } catch (error) {
      ctx.log.error(
        `disk ${job.target}: could not merge ${job.overlay} back: ${(error as Error).message}`,
      );
    }
  }
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
    const copy = qemuImg.copyLayer(job.frozen.file, partial, job.backing, domain.active, transfer);
    await convertShowingProgress(ctx, copy, `${job.target}: copy`);
  } else if (job.level === "inc" && job.backing) {
    try {
      await fs.copyFile(job.frozen.file, partial);
    } catch (error) {
      throw describeIoError(error, `disk ${job.target}: copy to ${partial} failed`);
    }
    await ctx.run(qemuImg.relink(partial, job.backing, "qcow2"), { signal: ctx.signal });
  } else {
    const flatten = qemuImg.flatten(job.frozen.file, partial, domain.active, transfer);
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
  const failed: string[] = [];
  for (const job of plan.jobs) {
    if (job.frozen.file === job.own.file) continue;
    try {
      await commitFrozenLayers(ctx, domain, job.chain, job.overlay, bandwidthMiB);
    } catch (error) {
      ctx.log.error(`disk ${job.target}: ${(error as Error).message}`);
      failed.push(job.target);
    }
  }
  if (failed.length > 0) {
    throw new OperationError(
      `point ${point.id} is saved, but the live chain of ${failed.join(", ")} is still long: run 'virtsnap consolidate ${domain.name}'`,
    );
  }
}
