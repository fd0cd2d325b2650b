import fs from "node:fs/promises";
import type { Context } from "../context.js";
import { defineWithSources } from "../libvirt/define.js";
import { qemuImg } from "../qemu/qemu-img.js";
import type { Domain } from "../types.js";

/**
 * Merges the disk's top virtsnap overlay (and any layer between) back into `base`, so the disk
 * runs on `base` again: live, an active commit that pivots; shut off, qemu-img commit and a define.
 * The overlay is deleted only once nothing points at it. `inactiveXml` is the definition to put
 * the base into (default: the domain's current one).
 */
export async function mergeBack(
  ctx: Context,
  domain: Domain,
  target: string,
  overlay: string,
  base: { file: string; format: string },
  inactiveXml?: string,
): Promise<void> {
  if (domain.active) {
    await ctx.run(ctx.virsh.blockCommitActive(domain.name, target, base.file));
    return;
  }
  await ctx.run(qemuImg.commit(overlay, base.file));
  const xml = inactiveXml ?? (await ctx.run(ctx.virsh.dumpXml(domain.name, true))).stdout;
  await defineWithSources(ctx, xml, new Map([[target, { file: base.file, format: base.format }]]));
  await fs.rm(overlay, { force: true });
}
