// The steps of a prune (DESIGN.md, "The repository"): merges, then the catalog, then deletions.
// Each may run again after a crash, so an interrupted prune is finished by running them again.
import { checkpointOf } from "../cbt/names.js";
import type { Context } from "../context.js";
import type { Journal } from "../journal.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { writeCatalog } from "../repo/catalog.js";
import { levelOfFile, pointFile } from "../repo/paths.js";
import { describePointFile } from "../repo/point-file.js";
import type { Merge, PrunePlan } from "../repo/retention.js";
import type { Catalog, PointDisk, RestorePoint } from "../types.js";
import {
  absorbedFiles,
  type DiskMerge,
  mergeCommand,
  mergeDisk,
  Repointer,
} from "./prune-merge.js";
import { removeStrayCheckpoints, removeUnlistedFiles } from "./sweep.js";

/** Merges, then the catalog, then deletions: each step may run again after a crash. */
export async function carryOut(
  ctx: Context,
  domain: string,
  repoDir: string,
  catalog: Catalog,
  plan: PrunePlan,
  journal: Journal<"prune">,
): Promise<Catalog> {
  const files = new Repointer(repoDir);
  await journal.step("merge");
  const merged = new Map<string, RestorePoint>();
  for (const { point, merge: m, disks } of diskMerges(catalog, plan)) {
    ctx.log.info(`${domain}: merging ${m.absorbs.join(", ")} into ${point.id} (${m.how})`);
    const newLevel = m.newParent === null ? "full" : point.level;
    const done: PointDisk[] = [];
    for (const { disk, merge } of disks) {
      if (merge) await mergeDisk(ctx, files, resolved(files, merge), journal);
      done.push(merge ? { ...disk, file: merge.newFile } : disk);
    }
    merged.set(point.id, { ...point, parent: m.newParent, level: newLevel, disks: done });
  }
  await journal.step("catalog");
  const after = await recatalog(ctx, repoDir, catalog, plan, merged, files);
  await writeCatalog(repoDir, after);
  const formerly = catalog.points.flatMap((p) => checkpointOf(p) ?? []);
  await deleteRemoved(ctx, domain, repoDir, after, journal, formerly);
  return after;
}

/**
 * A dry run's account of the merges: each qemu-img run goes to `ctx.run` (a dry runner prints it),
 * with the renames only followed on paper.
 */
export async function showMerges(
  ctx: Context,
  repoDir: string,
  catalog: Catalog,
  plan: PrunePlan,
): Promise<void> {
  const files = new Repointer(repoDir);
  for (const { disks } of diskMerges(catalog, plan)) {
    for (const { merge } of disks) {
      if (!merge) continue;
      const m = resolved(files, merge);
      await ctx.run(mergeCommand(files, m));
      files.moved(m.file, m.newFile);
      if (m.newFile === m.file) continue;
      for (const child of m.children)
        await ctx.run(qemuImg.relink(files.abs(files.current(child)), m.newFile, "qcow2"));
    }
  }
}

/** The kept file below a merge under its name after the renames made so far. */
function resolved(files: Repointer, m: DiskMerge): DiskMerge {
  return { ...m, base: m.base ? files.current(m.base) : undefined };
}

interface PointMerge {
  point: RestorePoint;
  merge: Merge;
  disks: { disk: PointDisk; merge: DiskMerge | undefined }[];
}

/** Each merge of the plan, disk by disk (undefined: the disk absorbs nothing). Pure. */
function diskMerges(catalog: Catalog, plan: PrunePlan): PointMerge[] {
  const byId = new Map(catalog.points.map((p) => [p.id, p]));
  const removed = new Set(plan.remove);
  return plan.merges.map((merge) => {
    const point = byId.get(merge.point) as RestorePoint;
    const disks = point.disks.map((disk) => {
      const absorbed = absorbedFiles(point, disk.target, byId, removed);
      if (absorbed.files.length === 0) return { disk, merge: undefined };
      const level = absorbed.base ? levelOfFile(disk.file) : "full";
      const children = catalog.points
        .filter((p) => p.parent === point.id)
        .map((p) => p.disks.find((d) => d.target === disk.target)?.file)
        .filter((f): f is string => f !== undefined && levelOfFile(f) !== "full");
      const diskMerge: DiskMerge = {
        how: merge.how,
        file: disk.file,
        newFile: pointFile(point.chain, disk.target, point.id, level),
        absorbed: absorbed.files,
        base: absorbed.base,
        children,
      };
      return { disk, merge: diskMerge };
    });
    return { point, merge, disks };
  });
}

/** The catalog after the merges: removed points gone, changed files checksummed anew. */
async function recatalog(
  ctx: Context,
  repoDir: string,
  catalog: Catalog,
  plan: PrunePlan,
  merged: Map<string, RestorePoint>,
  files: Repointer,
): Promise<Catalog> {
  const removed = new Set(plan.remove);
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
        changed(d)
          ? describePointFile(ctx, repoDir, d.file, d.target, d.virtualSize, catalog.format)
          : d,
      ),
    );
    points.push({ ...current, disks });
  }
  const emptied = new Set(plan.emptiedChains);
  return { ...catalog, chains: catalog.chains.filter((c) => !emptied.has(c.id)), points };
}

/** After the catalog: the removed points' files and checkpoints are the ones it no longer lists. */
export async function deleteRemoved(
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
