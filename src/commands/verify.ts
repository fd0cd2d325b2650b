import path from "node:path";
import type { Context } from "../context.js";
import { UsageError } from "../errors.js";
import { inParallel } from "../parallel.js";
import { byteMeter } from "../progress.js";
import { existingRepo } from "../repo/access.js";
import { findPoint } from "../repo/catalog.js";
import {
  auxFileProblems,
  backingOf,
  describeProblem,
  diskFileProblems,
  FILES_AT_ONCE,
  pointWithAncestors,
} from "../repo/integrity.js";
import type { Catalog, RestorePoint } from "../types.js";

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

/**
 * Every file against the catalog (src/repo/integrity.ts): size, checksum (block digest or sha256),
 * `qemu-img check`, backing link and format, virtual size.
 * A damaged file damages every point whose disk reads through it.
 */
export async function verify(ctx: Context, options: VerifyOptions): Promise<VerifyReport> {
  const { dir, catalog } = await existingRepo(options.backupDir, options.domain);
  const points = pointsToVerify(catalog, options.point);
  // Files are checked side by side (each check is mostly waiting for qemu-img); damage then
  // spreads in chain order.
  const checks = points.flatMap((point) => point.disks.map((disk) => ({ point, disk })));
  const onBytes = verifyMeter(ctx, points);
  const found = await inParallel(checks, FILES_AT_ONCE, async ({ point, disk }) =>
    (await diskFileProblems(ctx, dir, catalog, point, disk, onBytes)).map(describeProblem),
  ).finally(() => ctx.progress.clear());
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
      for (const p of await auxFileProblems(dir, aux, onBytes))
        problems.push(`${aux.kind}: ${describeProblem(p)}`);
    }
    verdicts.push({ id: point.id, ok: problems.length === 0, problems });
    ctx.log.debug(`${point.id}: ${problems.length === 0 ? "ok" : problems.join("; ")}`);
  }
  ctx.progress.clear();
  return { domain: options.domain, ok: verdicts.every((v) => v.ok), points: verdicts };
}

/** On a terminal, a bar of the bytes hashed: every file's size, as the catalog has it. */
function verifyMeter(ctx: Context, points: RestorePoint[]): ((bytes: number) => void) | undefined {
  if (!ctx.progress.enabled) return undefined;
  const sizes = points.flatMap((p) => [...p.disks, ...(p.files ?? [])]).map((f) => f.bytes);
  const total = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  const meter = byteMeter(ctx.progress, "verify", () => Math.max(0, total - done));
  return (bytes) => {
    done += bytes;
    meter(bytes);
  };
}

/** One point and its ancestors, oldest first; or every point. */
function pointsToVerify(catalog: Catalog, id: string | undefined): RestorePoint[] {
  if (id === undefined) return catalog.points;
  const point = findPoint(catalog, id);
  if (!point) throw new UsageError(`no point '${id}' in the catalog (see 'virtsnap list')`);
  return pointWithAncestors(catalog, point);
}
