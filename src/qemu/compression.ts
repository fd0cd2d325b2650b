import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "../context.js";
import { CommandError } from "../errors.js";
import { qemuImg } from "./qemu-img.js";

/**
 * Which qcow2 compression this qemu-img can write: zstd where it is built in, else zlib (every
 * qemu-img has it). `create -o help` is no guide: QEMU 5.1+ lists compression_type even when
 * built without zstd (Debian 11's 5.2), so a tiny image is made with it, once per run.
 */
export async function probeCompression(ctx: Context): Promise<"zstd" | "zlib"> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-probe-"));
  try {
    await ctx.run(qemuImg.createCompressed(path.join(dir, "zstd.qcow2"), "zstd"));
    ctx.log.debug("qemu-img writes zstd-compressed qcow2: --compress uses zstd");
    return "zstd";
  } catch (error) {
    // Only qemu-img's own "no such compression type" means no zstd: a full /tmp is an error.
    if (!(error instanceof CommandError) || !isNoZstd(`${error.message}\n${error.stderr}`))
      throw error;
    ctx.log.info(`this qemu-img has no zstd (${error.message}): --compress uses zlib`);
    return "zlib";
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * qemu-img's refusals of compression_type=zstd: the enum value unknown ("Invalid parameter 'zstd'"
 * on 5.2, "does not accept value" on later QEMUs), qcow2's "Unknown compression type", or an
 * older qemu-img that has no compression_type option at all.
 */
export function isNoZstd(stderr: string): boolean {
  return /Invalid parameter '(zstd|compression[-_]type)'|does not accept value '?zstd|Unknown compression type|compression[-_]type'? is (unexpected|not supported)|Invalid compression type/i.test(
    stderr,
  );
}
