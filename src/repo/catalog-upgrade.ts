// Catalog format 1 -> 2: each disk's whole-file sha256 is checked, then replaced by its block
// digest. A file that no longer matches its sha256 stops the upgrade: its damage must not be
// written down as a fresh digest.
import path from "node:path";
import { OperationError } from "../errors.js";
import { inParallel } from "../parallel.js";
import type { Catalog, PointDisk } from "../types.js";
import { blockDigest } from "./block-digest.js";
import { sha256File } from "./files.js";
import { FILES_AT_ONCE } from "./integrity.js";

/** The same catalog at format 2. Both hashes read the file side by side (one read, from the cache). */
export async function upgradedCatalog(
  dir: string,
  catalog: Catalog,
  onBytes?: (bytes: number) => void,
): Promise<Catalog> {
  const disks = catalog.points.flatMap((point) => point.disks.map((disk) => ({ point, disk })));
  const digests = await inParallel(disks, FILES_AT_ONCE, async ({ point, disk }) => {
    if (disk.digest !== undefined) return disk.digest;
    const file = path.join(dir, disk.file);
    const [sha256, digest] = await Promise.all([
      sha256File(file, onBytes).catch(() => undefined),
      blockDigest(file).catch(() => undefined),
    ]);
    if (sha256 === undefined || digest === undefined || sha256 !== disk.sha256)
      throw new OperationError(
        `${path.basename(disk.file)} of point ${point.id} is missing or does not match its sha256; nothing was changed: run 'virtsnap verify ${catalog.domain.name}'`,
      );
    return digest;
  });
  const digestOf = new Map(disks.map((d, i) => [d.disk, digests[i] as string]));
  const upgraded = (disk: PointDisk): PointDisk => {
    const { sha256: _, ...rest } = disk;
    return { ...rest, digest: digestOf.get(disk) as string };
  };
  return {
    ...catalog,
    format: 2,
    points: catalog.points.map((p) => ({ ...p, disks: p.disks.map(upgraded) })),
  };
}

/** Bytes an upgrade reads: every disk file of a format-1 catalog. */
export function upgradeBytes(catalog: Catalog): number {
  return catalog.points.reduce(
    (sum, p) => sum + p.disks.reduce((s, d) => s + (d.digest ? 0 : d.bytes), 0),
    0,
  );
}
