// One set of checks of repository files against the catalog, for verify (every point, all problems)
// and restore (the files it is about to read, the first problem stops it).
import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { OperationError } from "../errors.js";
import { inParallel } from "../parallel.js";
import { parseCheck, qemuImg } from "../qemu/qemu-img.js";
import type { AuxFile, Catalog, PointDisk, RestorePoint } from "../types.js";
import { checksumMatches, type DiskChecksum } from "./checksums.js";

/** Files are checked side by side: hashing is I/O, `qemu-img check` mostly waiting. */
export const FILES_AT_ONCE = 4;

/** What is wrong with one file; `missing` alone means there is nothing else to say. */
export interface FileProblem {
  file: string;
  reason: string;
  missing?: boolean;
}

const asList = (problem: FileProblem | undefined): FileProblem[] => (problem ? [problem] : []);

/** The parent point's file this disk's file is backed by (incremental files only). */
export function backingOf(
  catalog: Catalog,
  point: RestorePoint,
  disk: PointDisk,
): PointDisk | undefined {
  if (!/\.(inc|diff)\.qcow2$/.test(disk.file)) return undefined;
  const parent = catalog.points.find((p) => p.id === point.parent);
  return parent?.disks.find((d) => d.target === disk.target);
}

/** A point and every point it depends on, oldest first. */
export function pointWithAncestors(catalog: Catalog, point: RestorePoint): RestorePoint[] {
  const chain: RestorePoint[] = [];
  for (
    let p: RestorePoint | undefined = point;
    p;
    p = catalog.points.find((x) => x.id === p?.parent)
  )
    chain.unshift(p);
  return chain;
}

/** The file is there and has the catalog's size: cheap, so a restore runs it over every file first. */
async function sizeProblem(
  dir: string,
  entry: { file: string; bytes: number },
): Promise<FileProblem | undefined> {
  const stat = await fs.stat(path.join(dir, entry.file)).catch(() => undefined);
  if (!stat?.isFile()) return { file: entry.file, reason: "missing", missing: true };
  if (stat.size !== entry.bytes)
    return { file: entry.file, reason: `size ${stat.size}, catalog says ${entry.bytes}` };
  return undefined;
}

/** Size first (a truncated file needs no hashing), then the checksum: the catalog's own record. */
async function contentProblem(
  dir: string,
  entry: { file: string; bytes: number } & DiskChecksum,
  onBytes?: (bytes: number) => void,
): Promise<FileProblem | undefined> {
  const problem = await sizeProblem(dir, entry);
  if (problem) return problem;
  if (!(await checksumMatches(entry, path.join(dir, entry.file), onBytes)))
    return { file: entry.file, reason: "checksum differs from the catalog" };
  return undefined;
}

interface ImageInfo {
  "virtual-size": number;
  format: string;
  "backing-filename"?: string;
  "backing-filename-format"?: string;
}

/**
 * One disk file of one point: size, checksum (sha256 or block digest), `qemu-img check`, format,
 * virtual size, backing link. The hashing and qemu-img's look at the metadata run side by side.
 * `onBytes` hears of the bytes hashed (a progress bar).
 */
export async function diskFileProblems(
  ctx: Context,
  dir: string,
  catalog: Catalog,
  point: RestorePoint,
  disk: PointDisk,
  onBytes?: (bytes: number) => void,
): Promise<FileProblem[]> {
  const [content, image] = await Promise.all([
    contentProblem(dir, disk, onBytes),
    imageProblems(ctx, dir, catalog, point, disk),
  ]);
  if (content?.missing) return [content];
  return content ? [content, ...image] : image;
}

/** What qemu-img says of one disk file: `check`, format, virtual size, backing link. */
export async function imageProblems(
  ctx: Context,
  dir: string,
  catalog: Catalog,
  point: RestorePoint,
  disk: PointDisk,
): Promise<FileProblem[]> {
  const file = path.join(dir, disk.file);
  const problems: FileProblem[] = [];
  const say = (reason: string) => problems.push({ file: disk.file, reason });
  const [check, info] = await Promise.all([
    ctx.run(qemuImg.check(file)).then(
      (r) => parseCheck(r.stdout),
      (error: Error) => error,
    ),
    ctx
      .run(qemuImg.info(file))
      .then((r) => JSON.parse(r.stdout) as ImageInfo)
      .catch(() => undefined),
  ]);
  if (check instanceof Error) say(`qemu-img check failed (${check.message})`);
  else if (check.corruptions + check.checkErrors > 0) say("qemu-img check found corruption");
  if (!info) return [...problems, { file: disk.file, reason: "qemu-img cannot read it" }];
  if (info.format !== "qcow2") say(`format is ${info.format}, not qcow2`);
  if (info["virtual-size"] !== disk.virtualSize) say("virtual size differs from the catalog");
  const expected = backingOf(catalog, point, disk);
  const actual = info["backing-filename"];
  if (
    expected &&
    (actual !== path.basename(expected.file) || info["backing-filename-format"] !== "qcow2")
  )
    say(`backing link is ${actual ?? "missing"}, expected ${path.basename(expected.file)}`);
  if (!expected && actual) say(`has a backing link (${actual}) but should stand alone`);
  return problems;
}

/** A boot or memory file: size and sha256. */
export async function auxFileProblems(
  dir: string,
  aux: AuxFile,
  onBytes?: (bytes: number) => void,
): Promise<FileProblem[]> {
  return asList(await contentProblem(dir, aux, onBytes));
}

/** verify's wording: `<file> is missing` or `<file>: <reason>`. */
export function describeProblem(p: FileProblem): string {
  return p.missing ? `${p.file} is missing` : `${p.file}: ${p.reason}`;
}

/** Each restored disk's layers, top first: this point's file, then down its backing links. */
export function layersOf(
  catalog: Catalog,
  point: RestorePoint,
  disk: PointDisk,
): { point: RestorePoint; disk: PointDisk }[] {
  const layers = [];
  let p: RestorePoint | undefined = point;
  let d: PointDisk | undefined = disk;
  while (p && d) {
    layers.push({ point: p, disk: d });
    const backing = backingOf(catalog, p, d);
    p = backing ? catalog.points.find((x) => x.id === p?.parent) : undefined;
    d = backing;
  }
  return layers;
}

/** The hashing of a restore's sources, still running while the restore writes. */
export interface ContentCheck {
  /** Resolves when every file matched its checksum; throws restore's line for the first that did not. */
  passed(): Promise<void>;
}

/**
 * Before a restore writes anything: every file it will read (each disk's chain down to its full,
 * and the boot and memory files given) checked against the catalog, sizes of all of them first,
 * then qemu-img's look at each disk file. The first damaged file, the oldest layer first, stops
 * the restore with one line naming it and the point it belongs to. The checksums take a full read
 * of every file, so they run while the restore writes: the returned check says how they ended.
 */
export async function startRestoreChecks(
  ctx: Context,
  dir: string,
  catalog: Catalog,
  point: RestorePoint,
  disks: PointDisk[],
  auxFiles: AuxFile[],
): Promise<ContentCheck> {
  const files: { point: RestorePoint; entry: PointDisk | AuxFile }[] = [];
  for (const disk of disks) {
    for (const layer of layersOf(catalog, point, disk).reverse())
      files.push({ point: layer.point, entry: layer.disk });
  }
  for (const aux of auxFiles) files.push({ point, entry: aux });
  // Missing or cut-short files are found in a moment; only then is anything read.
  const sizes = await Promise.all(files.map((f) => sizeProblem(dir, f.entry)));
  throwFirst(dir, files, sizes.map(asList));
  const images = await inParallel(files, FILES_AT_ONCE, ({ point: p, entry }) =>
    "target" in entry ? imageProblems(ctx, dir, catalog, p, entry) : Promise.resolve([]),
  );
  throwFirst(dir, files, images);
  const hashing = inParallel(files, FILES_AT_ONCE, async ({ entry }) =>
    asList(await contentProblem(dir, entry)),
  );
  // Settled into a function at once, so a restore that fails first leaves no unheard rejection.
  const verdict = hashing.then(
    (found) => () => throwFirst(dir, files, found),
    (error: unknown) => () => {
      throw error;
    },
  );
  return { passed: async () => (await verdict)() };
}

/** startRestoreChecks with its checksums waited for: files and extract read nothing before. */
export async function checkRestoreSources(
  ctx: Context,
  dir: string,
  catalog: Catalog,
  point: RestorePoint,
  disks: PointDisk[],
  auxFiles: AuxFile[],
): Promise<void> {
  await (await startRestoreChecks(ctx, dir, catalog, point, disks, auxFiles)).passed();
}

function throwFirst(dir: string, files: { point: RestorePoint }[], found: FileProblem[][]): void {
  for (const [i, problems] of found.entries()) {
    const first = problems[0];
    const owner = files[i]?.point;
    if (!first || !owner) continue;
    throw new OperationError(
      first.missing
        ? `repository file ${path.join(dir, first.file)} (point ${owner.id}) is missing; run 'virtsnap verify'`
        : `${path.basename(first.file)} of point ${owner.id} is damaged (${first.reason}); run 'virtsnap verify'`,
    );
  }
}
