import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "../context.js";
import { withDiskSources } from "./domain-xml.js";

/** Re-defines a domain with some disks pointing at other files (offline snapshot, commit, restore). */
export async function defineWithSources(
  ctx: Context,
  xml: string,
  sources: ReadonlyMap<string, { file: string; format: string }>,
): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-"));
  try {
    const file = path.join(dir, "domain.xml");
    await fs.writeFile(file, await withDiskSources(xml, sources), { mode: 0o600 });
    await ctx.run(ctx.virsh.define(file));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
