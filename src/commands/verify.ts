import path from "node:path";
import type { Context } from "../context.js";
import { UsageError } from "../errors.js";
import { inParallel } from "../parallel.js";
import { parseCheck, qemuImg } from "../qemu/qemu-img.js";
import { findPoint } from "../repo/catalog.js";
import { exists, sha256File } from "../repo/files.js";
import type { Catalog, PointDisk, RestorePoint } from "../types.js";
import { existingRepo } from "./repo-access.js";

export interface VerifyOptions {
  domain: string;
  backupDir: string;
  /** Verify this point and what it depends on; all points when undefined. */
  point: string | undefined;
}

export interface PointVerdict {
  id: string;
  ok: boolean;
  problems: string[];
}

export interface VerifyReport {
  domain: string;
  ok: boolean;
  points: PointVerdict[];
}

const FILES_AT_ONCE = 4;

/**
 * Every file against the catalog: sha256, `qemu-img check`, backing link and format, virtual size.
 * A damaged file damages every point whose disk reads through it.
 */
export async function verify(ctx: Context, options: VerifyOptions): Promise<VerifyReport> {
  const { dir, catalog } = await existingRepo(options.backupDir, options.domain);
  const points = pointsToVerify(catalog, options.point);
  // Files are checked side by side (each check is mostly waiting for qemu-img); damage then
  // spreads in chain order.
  const checks = points.flatMap((point) => point.disks.map((disk) => ({ point, disk })));
  const found = await inParallel(checks, FILES_AT_ONCE, ({ point, disk }) =>
    fileProblems(ctx, dir, catalog, point, disk),
  );
  const problemsOf = new Map(checks.map((c, i) => [c.disk, found[i] ?? []]));
  const damagedFiles = new Set<string>();
  const verdicts: PointVerdict[] = [];
  for (const point of points) {
    const problems: string[] = [];
    for (const disk of point.disks) {
      const own = [...(problemsOf.get(disk) ?? [])];
      const backing = backingOf(catalog, point, disk);
      if (backing && damagedFiles.has(backing.file))
        own.push(`depends on damaged ${path.basename(backing.file)}`);
      if (own.length > 0) damagedFiles.add(disk.file);
      problems.push(...own.map((p) => `${disk.target}: ${p}`));
    }
    for (const aux of point.files ?? []) {
      const file = path.join(dir, aux.file);
      if (!(await exists(file))) problems.push(`${aux.kind}: ${aux.file} is missing`);
      else if ((await sha256File(file)) !== aux.sha256)
        problems.push(`${aux.kind}: ${aux.file}: checksum differs from the catalog`);
    }
    verdicts.push({ id: point.id, ok: problems.length === 0, problems });
    ctx.log.debug(`${point.id}: ${problems.length === 0 ? "ok" : problems.join("; ")}`);
  }
  return { domain: options.domain, ok: verdicts.every((v) => v.ok), points: verdicts };
}

/** One point and its ancestors, oldest first; or every point. */
function pointsToVerify(catalog: Catalog, id: string | undefined): RestorePoint[] {
  if (id === undefined) return catalog.points;
  const point = findPoint(catalog, id);
  if (!point) throw new UsageError(`no point '${id}' in the catalog (see 'virtsnap list')`);
  const chain: RestorePoint[] = [];
  for (
    let p: RestorePoint | undefined = point;
    p;
    p = catalog.points.find((x) => x.id === p?.parent)
  )
    chain.unshift(p);
  return chain;
}

/** The parent point's file this disk's file is backed by (incremental files only). */
function backingOf(catalog: Catalog, point: RestorePoint, disk: PointDisk): PointDisk | undefined {
  if (!/\.(inc|diff)\.qcow2$/.test(disk.file)) return undefined;
  const parent = catalog.points.find((p) => p.id === point.parent);
  return parent?.disks.find((d) => d.target === disk.target);
}

interface ImageInfo {
  "virtual-size": number;
  format: string;
  "backing-filename"?: string;
  "backing-filename-format"?: string;
}

async function fileProblems(
  ctx: Context,
  dir: string,
  catalog: Catalog,
  point: RestorePoint,
  disk: PointDisk,
): Promise<string[]> {
  const file = path.join(dir, disk.file);
  if (!(await exists(file))) return [`${disk.file} is missing`];
  const problems: string[] = [];
  if ((await sha256File(file)) !== disk.sha256)
    problems.push(`${disk.file}: checksum differs from the catalog`);
  try {
    const check = parseCheck((await ctx.run(qemuImg.check(file))).stdout);
    if (check.corruptions + check.checkErrors > 0)
      problems.push(`${disk.file}: qemu-img check found corruption`);
  } catch (error) {
    problems.push(`${disk.file}: qemu-img check failed (${(error as Error).message})`);
  }
  const info = JSON.parse((await ctx.run(qemuImg.info(file))).stdout) as ImageInfo;
  if (info.format !== "qcow2") problems.push(`${disk.file}: format is ${info.format}, not qcow2`);
  if (info["virtual-size"] !== disk.virtualSize)
    problems.push(`${disk.file}: virtual size differs from the catalog`);
  const expected = backingOf(catalog, point, disk);
  const actual = info["backing-filename"];
  if (
    expected &&
    (actual !== path.basename(expected.file) || info["backing-filename-format"] !== "qcow2")
  ) {
    problems.push(
      `${disk.file}: backing link is ${actual ?? "missing"}, expected ${path.basename(expected.file)}`,
    );
  }
  if (!expected && actual)
    problems.push(`${disk.file}: has a backing link (${actual}) but should stand alone`);
  return problems;
}
