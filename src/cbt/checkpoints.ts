import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "../context.js";
import { CommandError, OperationError } from "../errors.js";
import { exists, writeFileAtomic } from "../repo/files.js";
import type { Catalog, Domain } from "../types.js";
import { isOurs, pointOfCheckpoint } from "./names.js";
import type { CbtPlan } from "./plan.js";

export function checkpointFile(chain: string, pointId: string): string {
  return path.join(chain, `checkpoint.${pointId}.xml`);
}

/** Thrown when the bitmaps a chain needs are gone: the caller takes a new full instead. */
export class BrokenChainError extends OperationError {
  override name = "BrokenChainError";
}

export function isBrokenBitmap(error: unknown): boolean {
  return (
    error instanceof BrokenChainError ||
    (error instanceof CommandError &&
      /missing or broken bitmap|checkpoint inconsistent|bitmap .* not found/i.test(error.stderr))
  );
}

export async function listCheckpoints(ctx: Context, domain: string): Promise<string[]> {
  const { stdout } = await ctx.run(ctx.virsh.checkpointNames(domain));
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * Checkpoints are libvirt metadata: an undefine/define or a host move loses them while the bitmaps
 * stay in the qcow2 files. Redefine the ones the chain needs from the XML saved with each point,
 * parents first (LAB.md). The bitmaps themselves are checked by libvirt when the job starts. Only
 * this repository's checkpoints are redefined, never a parent named in the saved XML: that may be
 * another repository's or tool's, which is theirs to redefine (or not).
 */
export async function ensureCheckpoints(
  ctx: Context,
  domain: Domain,
  domainDir: string,
  plan: CbtPlan,
): Promise<void> {
  if (plan.needs.length === 0) return;
  const present = new Set(await listCheckpoints(ctx, domain.name));
  for (const name of plan.needs) {
    if (present.has(name)) continue;
    const pointId = pointOfCheckpoint(name) as string;
    const saved = path.join(domainDir, checkpointFile(plan.chain, pointId));
    if (!(await exists(saved)))
      throw new BrokenChainError(`checkpoint ${name} is gone and no saved XML exists`);
    ctx.log.info(`${domain.name}: redefining lost checkpoint ${name} from ${saved}`);
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-"));
    try {
      const file = path.join(tmp, "checkpoint.xml");
      // Its parent may be gone (pruned with its point, deleted by its own repository or tool, or not
      // redefined yet after an undefine): then it is redefined as a root. libvirt reads the changes
      // since a checkpoint from its own bitmap (and any later ones), not through its parents, so an
      // incremental from it misses nothing (test/e2e/two-repositories.test.ts).
      const xml = await fs.readFile(saved, "utf8");
      const parent = /<parent>\s*<name>([^<]+)<\/name>\s*<\/parent>/.exec(xml)?.[1];
      const orphan = parent !== undefined && !present.has(parent);
      await fs.writeFile(file, orphan ? xml.replace(/<parent>[\s\S]*?<\/parent>/, "") : xml);
      await ctx.run(ctx.virsh.checkpointRedefine(domain.name, file));
    } catch (error) {
      throw new BrokenChainError(
        `checkpoint ${name} could not be redefined: ${(error as Error).message}`,
      );
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }
}

/**
 * Deletes a checkpoint; if its bitmap is already broken, only libvirt's metadata can go. Deleting
 * one checkpoint never loses changes an incremental from another one needs (libvirt keeps them in
 * that one's bitmap or merges them into its parent's).
 */
export async function deleteCheckpoint(ctx: Context, domain: string, name: string): Promise<void> {
  try {
    await ctx.run(ctx.virsh.checkpointDelete(domain, name));
  } catch {
    await ctx.run(ctx.virsh.checkpointDelete(domain, name, true));
  }
}

/**
 * After a good point: of this repository's checkpoints only the chain's full one and the newest
 * stay (every active bitmap costs QEMU work on each guest write). Other repositories' and tools'
 * checkpoints are never touched. Returns how many were deleted.
 */
export async function pruneCheckpoints(
  ctx: Context,
  domain: string,
  catalog: Catalog,
  keep: string[],
): Promise<number> {
  let deleted = 0;
  for (const name of await listCheckpoints(ctx, domain)) {
    if (!isOurs(catalog, name) || keep.includes(name)) continue;
    await deleteCheckpoint(ctx, domain, name);
    deleted++;
  }
  return deleted;
}

/** Every checkpoint of this repository goes (for a new full after broken bitmaps). */
export async function dropAllCheckpoints(
  ctx: Context,
  domain: string,
  catalog: Catalog,
): Promise<void> {
  await pruneCheckpoints(ctx, domain, catalog, []);
}

/** Saved after pruning, so its <parent> is a checkpoint that will still exist when it is redefined. */
export async function saveCheckpointXml(
  ctx: Context,
  domain: string,
  domainDir: string,
  plan: CbtPlan,
  name: string,
): Promise<void> {
  const { stdout } = await ctx.run(ctx.virsh.checkpointXml(domain, name));
  await writeFileAtomic(path.join(domainDir, checkpointFile(plan.chain, plan.pointId)), stdout);
}
