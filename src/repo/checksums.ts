// A disk file's integrity data as the catalog's format records it: format 1 a whole-file sha256,
// format 2 a block digest (src/repo/block-digest.ts). Both are read back by verify and restore.
import type { CatalogFormat, PointDisk } from "../types.js";
import { blockDigest } from "./block-digest.js";
import { sha256File } from "./files.js";

export type DiskChecksum = Pick<PointDisk, "sha256" | "digest">;

/** The catalog format new repositories get. */
export const CURRENT_FORMAT: CatalogFormat = 2;

/** What a point of a catalog of `format` records about a disk file it keeps. */
export async function diskChecksum(
  format: CatalogFormat,
  file: string,
  onBytes?: (bytes: number) => void,
): Promise<DiskChecksum> {
  if (format === 1) return { sha256: await sha256File(file, onBytes) };
  return { digest: await blockDigest(file, onBytes) };
}

/** Whether the file still has the checksum the catalog recorded (whichever kind it is). */
export async function checksumMatches(
  entry: DiskChecksum,
  file: string,
  onBytes?: (bytes: number) => void,
): Promise<boolean> {
  if (entry.digest !== undefined) return (await blockDigest(file, onBytes)) === entry.digest;
  return (await sha256File(file, onBytes)) === entry.sha256;
}
