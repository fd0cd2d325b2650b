import fs from "node:fs/promises";
import path from "node:path";
import { checkpointOf } from "../cbt/names.js";
import type { Context } from "../context.js";
import { OperationError, UsageError } from "../errors.js";
import { JOURNAL_FILE, Journal, readJournal, refuseIfInterrupted } from "../journal.js";
import { checkDomainName } from "../libvirt/domain.js";
import { lockDomain } from "../lock.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { writeCatalog } from "../repo/catalog.js";
import { exists, fsyncDir } from "../repo/files.js";
import { levelOfFile, pointFile } from "../repo/paths.js";
import { describePointFile } from "../repo/point-file.js";
import {
  catalogAfter,
  choosePoints,
  type KeepPolicy,
  type Merge,
  type PrunePlan,
  planPrune,
} from "../repo/retention.js";
import type { Catalog, PointDisk, RestorePoint } from "../types.js";
import { handBackIfUnread } from "./instant-access.js";
import { existingRepo, refuseIfReadByDomains } from "./repo-access.js";
import { removeStrayCheckpoints, removeUnlistedFiles } from "./sweep.js";

export interface PruneOptions {
  domain: string;
  backupDir: string;
  policy: KeepPolicy;
  dryRun: boolean;
}

export interface PruneReport {
  domain: string;
  dryRun: boolean;
  kept: { id: string; reasons: string[] }[];
  removed: string[];
  merges: Merge[];
  bytesBefore: number;
  bytesAfter: number;
  /** What the removed points' files hold now (a dry run's estimate of what goes). */
  removedBytes: number;
  /** Points of an interrupted prune that this run finished (a dry run: would finish) first. */
  interruptedPrune: string[];
}

/**
 * Keeps points by a restic-like policy and merges every other point into the point that depends
 * on it, so each kept point restores exactly as before (DESIGN.md, "The repository").
 */
export async function prune(ctx: Context, options: PruneOptions): Promise<PruneReport> {
  checkPolicy(options.policy);
  checkDomainName(options.domain);
  // A dry run takes the lock too: it answers as the real run would (75 while another run works).
  const release = await lockDomain(ctx, options.domain, "prune");
  try {
    const repo = await existingRepo(options.backupDir, options.domain);
    const repoDir = repo.dir;
    let catalog = repo.catalog;
    const interrupted = await interruptedPrune(repoDir);
    if (!options.dryRun && interrupted) {
      await finishInterruptedPrune(ctx, options.domain, repoDir);
      catalog = (await existingRepo(options.backupDir, options.domain)).catalog;
    } else if (interrupted) {
      ctx.log.info(`${options.domain}: would first finish an interrupted prune`);
      catalog = catalogAfter(catalog, planPrune(catalog, idsIn(catalog, interrupted)));
    }
    if (!options.dryRun || !interrupted)
      await refuseIfInterrupted(path.join(repoDir, JOURNAL_FILE), options.domain);
    if (!options.dryRun) await handBackIfUnread(ctx, repoDir);
    const decision = choosePoints(catalog, options.policy);
    const plan = planPrune(catalog, decision.remove);
    const bytesBefore = repoBytes(catalog);
    const report: PruneReport = {
      domain: options.domain,
      dryRun: options.dryRun,
      kept: [...decision.keep]
        .map(([id, reasons]) => ({ id, reasons }))
        .sort((a, b) => a.id.localeCompare(b.id)),
      removed: plan.remove,
      merges: plan.merges,
      bytesBefore,
      bytesAfter: bytesBefore,
      removedBytes: repoBytes({
        ...catalog,
        points: catalog.points.filter((p) => plan.remove.includes(p.id)),
      }),
      interruptedPrune: interrupted ?? [],
    };
    if (plan.remove.length === 0) return report;
    // The same refusal in a dry run, so that it never promises what the real run will not do.
    await refuseIfReadByDomains(ctx, repoDir, "prune", options.dryRun);
    if (options.dryRun) return report;
    const journal = await Journal.open(
      path.join(repoDir, JOURNAL_FILE),
      { command: "prune", domain: options.domain, removed: plan.remove },
      ctx.env,
    );
    const after = await carryOut(ctx, options.domain, repoDir, catalog, plan, journal);
    await journal.close();
    return { ...report, bytesAfter: repoBytes(after) };
  } finally {
    await release();
  }
}

function checkPolicy(policy: KeepPolicy): void {
  for (const [rule, n] of Object.entries(policy)) {
    if (!Number.isInteger(n) || n < 0)
      throw new UsageError(`--keep-${rule} must be a whole number`);
  }
  if (Object.values(policy).every((n) => n === 0)) {
    throw new UsageError(
      "give at least one --keep-* option of 1 or more (prune never empties a repository)",
    );
  }
}

/** The points an interrupted prune was removing, if one is waiting to be finished. */
async function interruptedPrune(repoDir: string): Promise<string[] | undefined> {
  const record = await readJournal(path.join(repoDir, JOURNAL_FILE));
  return record?.command === "prune" && record.removed ? record.removed : undefined;
}

/** Those of `ids` the catalog still lists. */
function idsIn(catalog: Catalog, ids: readonly string[]): string[] {
  return catalog.points.filter((p) => ids.includes(p.id)).map((p) => p.id);
}

/**
 * A prune that died is finished, never undone: its merges may already have changed files of kept
 * points, and every step is safe to run again. Returns whether there was one.
 */
export async function finishInterruptedPrune(
  ctx: Context,
  domain: string,
  repoDir: string,
): Promise<boolean> {
  const record = await readJournal(path.join(repoDir, JOURNAL_FILE));
  if (record?.command !== "prune" || !record.removed) return false;
  ctx.log.warn(`${domain}: finishing an interrupted prune`);
  const { catalog } = await existingRepo(path.dirname(repoDir), domain);
  const removed = record.removed.filter((id) => catalog.points.some((p) => p.id === id));
  const journal = await Journal.open(
    path.join(repoDir, JOURNAL_FILE),
    { command: "prune", domain, removed: record.removed },
    ctx.env,
  );
  if (removed.length > 0) {
    await carryOut(ctx, domain, repoDir, catalog, planPrune(catalog, removed), journal);
  } else {
    // The catalog was written: only the deletions may be unfinished.
    const formerly = record.removed.map((id) => `virtsnap-${id}`);
    await deleteRemoved(ctx, domain, repoDir, catalog, journal, formerly);
  }
  await journal.close();
  return true;
}

/** Merges, then the catalog, then deletions: each step may run again after a crash. */
async function carryOut(
  ctx: Context,
  domain: string,
  repoDir: string,
  catalog: Catalog,
  plan: PrunePlan,
  journal: Journal<"prune">,
): Promise<Catalog> {
  const byId = new Map(catalog.points.map((p) => [p.id, p]));
  const removed = new Set(plan.remove);
  const files = new Repointer(repoDir);
  await journal.step("merge");
  const merged = new Map<string, RestorePoint>();
  for (const merge of plan.merges) {
    const point = byId.get(merge.point) as RestorePoint;
    const newLevel = merge.newParent === null ? "full" : point.level;
    ctx.log.info(`${domain}: merging ${merge.absorbs.join(", ")} into ${point.id} (${merge.how})`);
    const disks: PointDisk[] = [];
    for (const disk of point.disks) {
      const absorbed = absorbedFiles(point, disk.target, byId, removed);
      if (absorbed.files.length === 0) {
        disks.push(disk);
        continue;
      }
      const newFile = pointFile(
        point.chain,
        disk.target,
        point.id,
        absorbed.base ? levelOfFile(disk.file) : "full",
      );
      const children = catalog.points
        .filter((p) => p.parent === point.id)
        .map((p) => p.disks.find((d) => d.target === disk.target)?.file)
        .filter((f): f is string => f !== undefined && levelOfFile(f) !== "full");
      const base = absorbed.base ? files.current(absorbed.base) : undefined;
      await mergeDisk(
        ctx,
        files,
        merge.how,
        disk.file,
        newFile,
        absorbed.files,
        base,
        children,
        journal,
      );
      disks.push({ ...disk, file: newFile });
    }
    merged.set(point.id, { ...point, parent: merge.newParent, level: newLevel, disks });
  }

  await journal.step("catalog");
  const points: RestorePoint[] = [];
  for (const point of catalog.points) {
    if (removed.has(point.id)) continue;
    const updated = merged.get(point.id);
    if (!updated && !point.disks.some((d) => files.relinked.has(d.file))) {
      points.push(point);
      continue;
    }
    const current = updated ?? point;
    // A disk file that was merged into, renamed or relinked has a new checksum.
    const changed = (d: PointDisk) =>
      d !== point.disks.find((o) => o.target === d.target) || files.relinked.has(d.file);
    const disks = await Promise.all(
      current.disks.map((d) =>
        changed(d) ? describePointFile(ctx, repoDir, d.file, d.target, d.virtualSize) : d,
      ),
    );
    points.push({ ...current, disks });
  }
  const emptied = new Set(plan.emptiedChains);
  const after: Catalog = {
    ...catalog,
    chains: catalog.chains.filter((c) => !emptied.has(c.id)),
    points,
  };
  await writeCatalog(repoDir, after);

  const formerly = catalog.points.flatMap((p) => checkpointOf(p) ?? []);
  await deleteRemoved(ctx, domain, repoDir, after, journal, formerly);
  return after;
}

/** The removed points' files a kept point's disk reads through, newest first, and the kept file below them. */
function absorbedFiles(
  point: RestorePoint,
  target: string,
  byId: Map<string, RestorePoint>,
  removed: Set<string>,
): { files: string[]; base: string | undefined } {
  const files: string[] = [];
  let current = point;
  for (;;) {
    const disk = current.disks.find((d) => d.target === target);
    if (!disk || levelOfFile(disk.file) === "full" || current.parent === null)
      return { files, base: undefined };
    const parent = byId.get(current.parent) as RestorePoint;
    const parentDisk = parent.disks.find((d) => d.target === target);
    if (!parentDisk)
      throw new OperationError(`point ${parent.id} has no disk ${target} for ${current.id}`);
    if (!removed.has(parent.id)) return { files, base: parentDisk.file };
    files.push(parentDisk.file);
    current = parent;
  }
}

/**
 * One disk of one merge. fold: commit the kept file down into the oldest absorbed file (the kept
 * point's content never changes while that runs), which then replaces it. rebase: copy the
 * absorbed data up into the kept file in place (again without changing its content).
 */
async function mergeDisk(
  ctx: Context,
  files: Repointer,
  how: Merge["how"],
  file: string,
  newFile: string,
  absorbed: string[],
  base: string | undefined,
  children: string[],
  journal: Journal<"prune">,
): Promise<void> {
  const abs = files.abs;
  const oldest = absorbed.at(-1) as string;
  if (how === "fold" && (await exists(abs(oldest)))) {
    await ctx.run(qemuImg.commit(abs(file), abs(oldest)));
    await journal.step("rename");
    await fs.rename(abs(oldest), abs(newFile));
  } else if (how === "rebase" && (await exists(abs(file)))) {
    await ctx.run(qemuImg.rebaseSafe(abs(file), base ? path.basename(base) : "", "qcow2"));
    await journal.step("rename");
    if (newFile !== file) await fs.rename(abs(file), abs(newFile));
  } else if (!(await exists(abs(newFile)))) {
    throw new OperationError(`cannot finish merging ${file}: ${newFile} is missing`);
  }
  await fsyncDir(path.dirname(abs(newFile)));
  files.moved(file, newFile);
  if (newFile === file) return;
  for (const child of children) {
    const current = files.current(child);
    if (!(await exists(abs(current)))) continue;
    await ctx.run(qemuImg.relink(abs(current), path.basename(newFile), "qcow2"));
    files.relinked.add(current);
  }
  await fs.rm(abs(file), { force: true });
}

/** Repository files by their path relative to the domain's folder, following renames made so far. */
class Repointer {
  private readonly renamed = new Map<string, string>();
  /** Files whose header got a new backing link: their checksums change too. */
  readonly relinked = new Set<string>();
  constructor(private readonly dir: string) {}
  abs = (file: string) => path.join(this.dir, file);
  moved(from: string, to: string) {
    if (from !== to) this.renamed.set(from, to);
  }
  current(file: string): string {
    return this.renamed.get(file) ?? file;
  }
}

/** After the catalog: the removed points' files and checkpoints are the ones it no longer lists. */
async function deleteRemoved(
  ctx: Context,
  domain: string,
  repoDir: string,
  catalog: Catalog,
  journal: Journal<"prune">,
  formerly: string[],
): Promise<void> {
  await journal.step("delete");
  const say = (action: string) => ctx.log.debug(`${domain}: prune: ${action}`);
  await removeUnlistedFiles(repoDir, catalog, say);
  await removeStrayCheckpoints(ctx, domain, catalog, say, formerly);
}

function repoBytes(catalog: Catalog): number {
  return catalog.points.reduce((sum, p) => sum + p.disks.reduce((s, d) => s + d.bytes, 0), 0);
}
