import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "../context.js";
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
    ctx.log.info(`this qemu-img has no zstd (${(error as Error).message}): --compress uses zlib`);
    return "zlib";
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
