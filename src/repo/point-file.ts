import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { CommandError, OperationError } from "../errors.js";
import { parseCheck, qemuImg } from "../qemu/qemu-img.js";
import type { PointDisk } from "../types.js";
import { commitHashed, flushAndHash } from "./files.js";
import { PARTIAL } from "./paths.js";

/** Checks a point file that is in place (after prune changed it) and describes it for the catalog. */
export async function describePointFile(
  ctx: Context,
  domainDir: string,
  file: string,
  target: string,
  virtualSize: number,
): Promise<PointDisk> {
  const absolute = path.join(domainDir, file);
  await checkImage(ctx, absolute);
  const sha256 = await flushAndHash(absolute);
  const { size } = await fs.stat(absolute);
  return { target, file, format: "qcow2", virtualSize, bytes: size, sha256 };
}

/** Checks a freshly written `<file>.partial`, records its checksum and renames it into place. */
export async function finishPointFile(
  ctx: Context,
  domainDir: string,
  file: string,
  target: string,
  virtualSize: number,
): Promise<PointDisk> {
  const absolute = path.join(domainDir, file);
  await checkImage(ctx, absolute + PARTIAL);
  const { sha256, bytes } = await commitHashed(absolute);
  return { target, file, format: "qcow2", virtualSize, bytes, sha256 };
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
