import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { describeIoError, OperationError } from "../errors.js";
import type {
  AuxFile,
  Catalog,
  ChainRecord,
  ExcludedDisk,
  Level,
  Mode,
  PointDisk,
  RestorePoint,
} from "../types.js";
import { isBlockDigest } from "./block-digest.js";
import { CURRENT_FORMAT } from "./checksums.js";
import { makeWritableDir, writeFileAtomic } from "./files.js";
import { CATALOG_FILE, isPointId } from "./paths.js";

export function emptyCatalog(domain: { name: string; uuid: string }): Catalog {
  return {
    format: CURRENT_FORMAT,
    domain: { name: domain.name, uuid: domain.uuid },
    chains: [],
    points: [],
  };
}

/** The catalog of a domain's folder, or undefined if the domain was never backed up there. */
export async function readCatalog(domainDir: string): Promise<Catalog | undefined> {
  const file = path.join(domainDir, CATALOG_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new OperationError(`${file} is not valid JSON; refusing to touch this repository`);
  }
  const format = (data as Partial<Catalog> | null)?.format;
  if (typeof format === "number" && format > CURRENT_FORMAT)
    throw new OperationError(
      `${file} is catalog format ${format}, newer than this virtsnap reads (1 and 2): use a newer virtsnap`,
    );
  const problem = catalogProblem(data);
  if (problem)
    throw new OperationError(`${file} is damaged (${problem}); refusing to touch this repository`);
  return data as Catalog;
}

/** Written last in every run, atomically: a file the catalog does not list is not a restore point. */
export async function writeCatalog(domainDir: string, catalog: Catalog): Promise<void> {
  await writeFileAtomic(
    path.join(domainDir, CATALOG_FILE),
    `${JSON.stringify(catalog, null, 2)}\n`,
  );
}

const MODES: Mode[] = ["snapshot", "cbt"];
const LEVELS: Level[] = ["full", "inc", "diff", "copy"];

/** Why `data` is not a catalog this version understands, or undefined if it is one. */
export function catalogProblem(data: unknown): string | undefined {
  const c = data as Partial<Catalog> | null;
  if (typeof c !== "object" || c === null) return "not an object";
  if (c.format !== 1 && c.format !== 2) return `unknown format ${JSON.stringify(c.format)}`;
  if (typeof c.domain?.name !== "string" || typeof c.domain?.uuid !== "string")
    return "no domain name/uuid";
  if (!Array.isArray(c.chains) || !Array.isArray(c.points)) return "no chains or points";
  if (c.repoId !== undefined && !/^[0-9a-f]{8}$/.test(String(c.repoId)))
    return `bad repository id ${JSON.stringify(c.repoId)}`;
  const chainIds = new Set(c.chains.map((ch) => ch.id));
  const seen = new Set<string>();
  let previous = "";
  for (const p of c.points) {
    if (!isPointId(p?.id)) return `bad point id ${JSON.stringify(p?.id)}`;
    if (p.id <= previous) return `points out of order at ${p.id}`;
    previous = p.id;
    if (!chainIds.has(p.chain)) return `point ${p.id} names unknown chain ${p.chain}`;
    if (!MODES.includes(p.mode) || !LEVELS.includes(p.level))
      return `point ${p.id} has bad mode or level`;
    if (p.parent !== null && !seen.has(p.parent))
      return `point ${p.id} has unknown parent ${p.parent}`;
    if (
      !Array.isArray(p.disks) ||
      p.disks.some(
        (d) =>
          typeof d.file !== "string" || d.file.startsWith("/") || d.file.split("/").includes(".."),
      )
    )
      return `point ${p.id} has bad disks`;
    if (c.format === 2 && p.disks.some((d) => !isBlockDigest(d.digest)))
      return `point ${p.id} has a disk without a block digest`;
    if (p.checkpoint !== undefined && typeof p.checkpoint !== "string")
      return `point ${p.id} has a bad checkpoint name`;
    seen.add(p.id);
  }
  return undefined;
}

/**
 * The repository's id, which names its checkpoints, is made on first use and saved (unless `save` is
 * false, for a dry run) before any checkpoint carries it, so a run killed after creating one leaves
 * a checkpoint that repair recognises as this repository's.
 */
export async function withRepoId(dir: string, catalog: Catalog, save: boolean): Promise<Catalog> {
  if (catalog.repoId) return catalog;
  const next = { ...catalog, repoId: randomBytes(4).toString("hex") };
  if (!save) return next;
  // A new repository's first write: its folder may not exist yet, or the backup dir not be writable.
  await makeWritableDir(dir).catch((error) => {
    throw describeIoError(error, `cannot write backups into ${dir}`);
  });
  await writeCatalog(dir, next);
  return next;
}

/** The point a new incremental builds on: the newest point that is not a standalone copy. */
export function chainTip(catalog: Catalog): RestorePoint | undefined {
  return catalog.points.filter((p) => p.level !== "copy").at(-1);
}

export function latestPoint(catalog: Catalog): RestorePoint | undefined {
  return catalog.points.at(-1);
}

export function findPoint(catalog: Catalog, id: string): RestorePoint | undefined {
  return id === "latest" ? latestPoint(catalog) : catalog.points.find((p) => p.id === id);
}

export function chainOf(catalog: Catalog, chainId: string): ChainRecord | undefined {
  return catalog.chains.find((c) => c.id === chainId);
}

export function pointsOfChain(catalog: Catalog, chainId: string): RestorePoint[] {
  return catalog.points.filter((p) => p.chain === chainId);
}

/** How many points the chain the next backup builds on has (0 in an empty catalog). */
export function chainDepth(catalog: Catalog): number {
  const tip = chainTip(catalog);
  return tip ? pointsOfChain(catalog, tip.chain).length : 0;
}

/** What a mode's plan decided about the point it makes. */
export interface PointPlan {
  pointId: string;
  chain: string;
  level: Level;
  parent: RestorePoint | undefined;
  excluded?: ExcludedDisk[];
}

/** The catalog record of a point whose files are all written, in both modes. */
export function newPoint(
  plan: PointPlan,
  made: { mode: Mode; time: string; quiesced: boolean; disks: PointDisk[]; files: AuxFile[] },
): RestorePoint {
  return {
    id: plan.pointId,
    time: made.time,
    mode: made.mode,
    level: plan.level,
    chain: plan.chain,
    parent: plan.parent?.id ?? null,
    quiesced: made.quiesced,
    disks: made.disks,
    ...(plan.excluded?.length ? { excluded: plan.excluded } : {}),
    ...(made.files.length > 0 ? { files: made.files } : {}),
  };
}

/** A new catalog with the point (and its chain, when the point starts one) added. */
export function withPoint(catalog: Catalog, point: RestorePoint): Catalog {
  const chains = chainOf(catalog, point.chain)
    ? catalog.chains
    : [...catalog.chains, { id: point.chain, mode: point.mode }];
  return { ...catalog, chains, points: [...catalog.points, point] };
}

/** A new catalog without the given chains and their points. */
export function withoutChains(catalog: Catalog, chainIds: ReadonlySet<string>): Catalog {
  return {
    ...catalog,
    chains: catalog.chains.filter((c) => !chainIds.has(c.id)),
    points: catalog.points.filter((p) => !chainIds.has(p.chain)),
  };
}
