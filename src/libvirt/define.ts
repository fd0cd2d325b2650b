import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "../context.js";
import { type DiskSource, withDiskSources } from "./domain-xml.js";

/**
 * Re-defines a domain with some disks pointing at other files (offline snapshot, commit, restore);
 * a block device (an LVM volume whose overlay was merged) becomes a type='block' disk again.
 */
export async function defineWithSources(
  ctx: Context,
  xml: string,
  sources: ReadonlyMap<string, { file: string; format: string }>,
): Promise<void> {
  const typed = new Map<string, DiskSource>();
  for (const [target, source] of sources) {
    const stat = await fs.stat(source.file).catch(() => undefined);
    typed.set(target, { ...source, block: stat?.isBlockDevice() ?? false });
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-"));
  try {
    const file = path.join(dir, "domain.xml");
    await fs.writeFile(file, await withDiskSources(xml, typed), { mode: 0o600 });
    await ctx.run(ctx.virsh.define(file));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
