import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "../context.js";
import type { Journal } from "../journal.js";
import { backupXml, checkpointXml } from "../libvirt/backup-xml.js";
import { letQemuReach, qemuIdentity } from "../libvirt/qemu-access.js";
import { freezeAsAsked } from "../libvirt/quiesce.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { captureBootFiles } from "../repo/boot-files.js";
import { newPoint, withPoint, writeCatalog } from "../repo/catalog.js";
import { prepareChainDir, removePointFiles, writeFileAtomic } from "../repo/files.js";
import { whileFlushing } from "../repo/finishing.js";
import { domainXmlFile, PARTIAL } from "../repo/paths.js";
import type { Catalog, Domain, Quiesce, Repository, RestorePoint, Transfer } from "../types.js";
import {
  deleteCheckpoint,
  dropAllCheckpoints,
  ensureCheckpoints,
  isBrokenBitmap,
  pruneCheckpoints,
  saveCheckpointXml,
} from "./checkpoints.js";
import { finishFiles } from "./finish-files.js";
import { waitForBackupJob } from "./job.js";
import type { CbtPlan } from "./plan.js";

/**
 * One CBT run (DESIGN.md, "CBT mode"): targets are pre-created in the repository (an incremental
 * backed by its parent point), libvirt's push-mode job fills them, the catalog is written last.
 * A shut-off domain is started paused for the job and shut off again, whatever happens.
 */
export async function cbtBackup(
  ctx: Context,
  domain: Domain,
  plan: CbtPlan,
  repo: Repository,
  quiesce: Quiesce,
  transfer: Transfer,
  fullInstead: () => CbtPlan,
  journal: Journal<"backup.cbt">,
): Promise<RestorePoint> {
  await prepareChainDir(repo.dir, plan.chain);
  const inactiveXml = (await ctx.run(ctx.virsh.dumpXml(domain.name, true))).stdout;
  await journal.step("start-paused");
  if (!domain.active) {
    await journal.note({ startedPaused: true });
    await ctx.run(ctx.virsh.startPaused(domain.name));
  }
  // QEMU's identity (for folder access) is in the live XML, which a shut-off domain only has now.
  const liveXml = domain.active
    ? domain.xml
    : (await ctx.run(ctx.virsh.dumpXml(domain.name))).stdout;
  const run = { ctx, domain, repo, quiesce, transfer, inactiveXml, liveXml, journal };
  try {
    try {
      await ensureCheckpoints(ctx, domain, repo.dir, plan);
      return await captureAndRecord(run, plan);
    } catch (error) {
      // Never write an incremental that would restore wrong data: lost bitmaps mean a new full.
      if (!plan.incrementalFrom || !isBrokenBitmap(error)) throw error;
      ctx.log.warn(
        `${domain.name}: the chain's change tracking is gone (${(error as Error).message}); taking a new full backup`,
      );
      await dropAllCheckpoints(ctx, domain.name, repo.catalog);
      const full = fullInstead();
      await journal.note({ pointId: full.pointId });
      return await captureAndRecord(run, full);
    }
  } finally {
    await journal.step("stop");
    if (!domain.active) {
      await ctx
        .run(ctx.virsh.stopGraceful(domain.name))
        .catch((e) => ctx.log.error(`could not shut '${domain.name}' off again: ${e.message}`));
    }
  }
}

interface Run {
  ctx: Context;
  domain: Domain;
  repo: Repository;
  quiesce: Quiesce;
  transfer: Transfer;
  inactiveXml: string;
  liveXml: string;
  journal: Journal<"backup.cbt">;
}

async function captureAndRecord(run: Run, plan: CbtPlan): Promise<RestorePoint> {
  const { ctx, domain, repo, quiesce, transfer, inactiveXml, liveXml, journal } = run;
  const time = ctx.now().toISOString();
  let point: RestorePoint;
  let catalog: Catalog;
  let jobStarted = false;
  try {
    await letQemuReach(
      qemuIdentity(liveXml),
      [repo.dir, await prepareChainDir(repo.dir, plan.chain)],
      "in cbt mode QEMU writes the backup files itself, or use --mode snapshot",
    );
    await journal.step("targets");
    await createTargets(ctx, repo.dir, plan);
    await journal.step("job");
    const quiesced = await startJob(ctx, domain, plan, repo.dir, quiesce);
    jobStarted = true;
    // nvram and TPM state at the job's start, the point's moment, rather than after the copy.
    const boot = await captureBootFiles(
      ctx,
      domain,
      repo.dir,
      plan.chain,
      plan.pointId,
      plan.parent,
    );
    await journal.step("wait");
    const partials = plan.jobs.map((j) => path.join(repo.dir, j.file) + PARTIAL);
    await whileFlushing(partials, () => waitForBackupJob(ctx, domain.name));
    await journal.step("finish-files");
    // The checkpoint's XML is read and saved while the files are checked and flushed; both end
    // before the next step, so an undo never races a rename.
    const finished = finishFiles(ctx, repo, transfer, plan);
    const checkpointSaved = plan.checkpoint
      ? saveCheckpointXml(ctx, domain.name, repo.dir, plan, plan.checkpoint)
      : Promise.resolve();
    await Promise.allSettled([finished, checkpointSaved]);
    const disks = await finished;
    await checkpointSaved;
    await writeFileAtomic(
      path.join(repo.dir, domainXmlFile(plan.chain, plan.pointId)),
      inactiveXml,
    );
    point = {
      ...newPoint(plan, { mode: "cbt", time, quiesced, disks, files: boot }),
      ...(plan.checkpoint ? { checkpoint: plan.checkpoint } : {}),
    };
    await journal.step("catalog");
    catalog = withPoint(repo.catalog, point);
    await writeCatalog(repo.dir, catalog);
  } catch (error) {
    // Not an error line: the caller may recover (a new full after lost bitmaps, a warning) or
    // report the failure itself, once.
    ctx.log.info(
      `${domain.name}: the ${plan.level} backup stopped; removing what this run created`,
    );
    await undoRun(ctx, domain.name, plan, repo.dir, jobStarted);
    throw error;
  }
  ctx.log.info(`point ${point.id} (${point.level}) saved`);
  await journal.step("prune-checkpoints");
  if (plan.checkpoint)
    await keepBitmapsFew(ctx, domain.name, repo.dir, catalog, plan, plan.checkpoint);
  return point;
}

/**
 * Only after the point is in the catalog: this repository's older checkpoints go but the chain's
 * full one (kept for --level diff), and the new checkpoint's XML is saved again with its parent as it is now, so a redefine finds that parent.
 * A failure here costs bitmaps, never data: the next run redefines or takes a full.
 */
async function keepBitmapsFew(
  ctx: Context,
  domain: string,
  domainDir: string,
  catalog: Catalog,
  plan: CbtPlan,
  checkpoint: string,
) {
  try {
    if ((await pruneCheckpoints(ctx, domain, catalog, plan.keep)) > 0) {
      await saveCheckpointXml(ctx, domain, domainDir, plan, checkpoint);
    }
  } catch (error) {
    ctx.log.warn(`${domain}: could not tidy up old checkpoints: ${(error as Error).message}`);
  }
}

async function createTargets(ctx: Context, domainDir: string, plan: CbtPlan): Promise<void> {
  for (const job of plan.jobs) {
    const partial = path.join(domainDir, job.file) + PARTIAL;
    const size = String(job.own.virtualSize);
    // qemu-img resolves a relative backing name from the new file's folder: the chain folder.
    const cmd = job.backing
      ? qemuImg.createOverlay(partial, job.backing, "qcow2", size)
      : qemuImg.create(partial, size);
    await ctx.run(cmd);
  }
}

/** Freeze (if asked or possible), begin the job, thaw at once: the point in time is the job's start. */
async function startJob(
  ctx: Context,
  domain: Domain,
  plan: CbtPlan,
  domainDir: string,
  quiesce: Quiesce,
): Promise<boolean> {
  const quiesced = await freezeGuest(ctx, domain, quiesce);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-"));
  try {
    const chosen = new Set(plan.jobs.map((j) => j.target));
    const disks = [
      ...plan.jobs.map((j) => ({
        target: j.target,
        file: path.join(domainDir, j.file) + PARTIAL,
        full: j.level === "full",
      })),
      ...domain.disks
        .filter((d) => d.device === "disk" && !chosen.has(d.target))
        .map((d) => ({ target: d.target, skip: true as const })),
    ];
    const backupFile = path.join(tmp, "backup.xml");
    await fs.writeFile(backupFile, backupXml(plan.incrementalFrom, disks));
    let checkpointXmlFile: string | undefined;
    if (plan.checkpoint) {
      checkpointXmlFile = path.join(tmp, "checkpoint.xml");
      const bitmaps = [
        ...plan.jobs.map((j) => ({ target: j.target, bitmap: j.bitmap })),
        ...disks.filter((d) => "skip" in d).map((d) => ({ target: d.target, bitmap: false })),
      ];
      await fs.writeFile(checkpointXmlFile, checkpointXml(plan.checkpoint, bitmaps));
    }
    await ctx.run(ctx.virsh.backupBegin(domain.name, backupFile, checkpointXmlFile));
  } finally {
    if (quiesced)
      await ctx
        .run(ctx.virsh.fsThaw(domain.name))
        .catch((e) => ctx.log.error(`could not thaw guest filesystems: ${e.message}`));
    await fs.rm(tmp, { recursive: true, force: true });
  }
  return quiesced;
}

/** A shut-off domain (started paused for the job) has no guest running: nothing to freeze. */
async function freezeGuest(ctx: Context, domain: Domain, quiesce: Quiesce): Promise<boolean> {
  if (!domain.active) return false;
  return freezeAsAsked(ctx, domain, quiesce, () => ctx.run(ctx.virsh.fsFreeze(domain.name)));
}

/** Uncancellable: abort the job, delete the checkpoint it created, remove this run's files. */
async function undoRun(
  ctx: Context,
  domain: string,
  plan: CbtPlan,
  domainDir: string,
  jobStarted: boolean,
): Promise<void> {
  if (jobStarted) await ctx.run(ctx.virsh.jobAbort(domain)).catch(() => {});
  if (plan.checkpoint) {
    // A job that failed after it started keeps its new checkpoint (LAB.md); the next inc would miss data.
    const present = await ctx.run(ctx.virsh.checkpointNames(domain)).catch(() => ({ stdout: "" }));
    if (present.stdout.split("\n").some((l) => l.trim() === plan.checkpoint)) {
      await deleteCheckpoint(ctx, domain, plan.checkpoint).catch((e) =>
        ctx.log.error(`could not delete checkpoint ${plan.checkpoint}: ${e.message}`),
      );
    }
  }
  await removePointFiles(domainDir, plan.chain, plan.pointId);
}
