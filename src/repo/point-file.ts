import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { CommandError, OperationError } from "../errors.js";
import { parseCheck, qemuImg } from "../qemu/qemu-img.js";
import type { CatalogFormat, PointDisk } from "../types.js";
import { type DiskChecksum, diskChecksum } from "./checksums.js";
import { commitPartial, fsyncFile } from "./files.js";
import { PARTIAL } from "./paths.js";

/** Checks a point file that is in place (after prune changed it) and describes it for the catalog. */
export async function describePointFile(
  ctx: Context,
  domainDir: string,
  file: string,
  target: string,
  virtualSize: number,
  format: CatalogFormat,
): Promise<PointDisk> {
  const absolute = path.join(domainDir, file);
  const checksum = await checkFlushAndSum(ctx, absolute, format);
  const { size } = await fs.stat(absolute);
  return { target, file, format: "qcow2", virtualSize, bytes: size, ...checksum };
}

/**
 * Checks a freshly written `<file>.partial`, records its checksum and renames it into place. The
 * check, the flush and the hashing (on worker threads) run side by side: all three read or write
 * the same, freshly written, bytes.
 */
export async function finishPointFile(
  ctx: Context,
  domainDir: string,
  file: string,
  target: string,
  virtualSize: number,
  format: CatalogFormat,
  onBytes?: (bytes: number) => void,
): Promise<PointDisk> {
  const absolute = path.join(domainDir, file);
  const checksum = await checkFlushAndSum(ctx, absolute + PARTIAL, format, onBytes);
  await commitPartial(absolute);
  const { size } = await fs.stat(absolute);
  return { target, file, format: "qcow2", virtualSize, bytes: size, ...checksum };
}

async function checkFlushAndSum(
  ctx: Context,
  file: string,
  format: CatalogFormat,
  onBytes?: (bytes: number) => void,
): Promise<DiskChecksum> {
  const check = checkImage(ctx, file);
  const flush = fsyncFile(file);
  const sum = diskChecksum(format, file, onBytes);
  // All three settle first: nothing still reads the file when a failure has it removed.
  await Promise.allSettled([check, flush, sum]);
  await check;
  await flush;
  return sum;
}

async function checkImage(ctx: Context, file: string): Promise<void> {
  try {
    const { stdout } = await ctx.run(qemuImg.check(file));
    const result = parseCheck(stdout);
    if (result.corruptions > 0 || result.checkErrors > 0) throw new Error(stdout);
  } catch (error) {
    const detail = error instanceof CommandError ? error.message : String(error);
    throw new OperationError(`qemu-img check failed for ${path.basename(file)}: ${detail}`);
  }
}
