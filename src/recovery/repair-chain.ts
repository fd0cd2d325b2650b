import fs from "node:fs/promises";
import path from "node:path";
import { consolidateChain } from "../chain/consolidate.js";
import { overlaysOf, ownImage, readChain, withMerged } from "../chain/live-chain.js";
import { mergeBack } from "../chain/merge-back.js";
import { overlayBase, parseOverlay } from "../chain/names.js";
import type { Context } from "../context.js";
import { isImageDisk } from "../libvirt/disk-selection.js";
import { chainTip } from "../repo/catalog.js";
import type { Catalog, Disk, Domain } from "../types.js";

// What a killed snapshot-mode run can leave on a disk's live chain, and how repair takes it away.

export function fileDisks(domain: Domain): Disk[] {
  return domain.disks.filter(isImageDisk);
}

/**
 * Snapshot mode's leftovers. A top overlay for a point the catalog never got, above the overlay of
 * the catalog's newest point: the run died before its point was saved, so merge the new overlay
 * back (the next backup stays incremental). Then any frozen layers are committed into the own
 * image, and overlay files no chain uses are deleted.
 */
export async function repairChain(
  ctx: Context,
  domain: Domain,
  disk: Disk,
  catalog: Catalog | undefined,
  say: (a: string) => void,
) {
  let chain = await readChain(ctx.run, disk);
  const [top, below] = overlaysOf(chain);
  const tip = catalog ? chainTip(catalog) : undefined;
  const topId = top && parseOverlay(top.file)?.pointId;
  const unrecorded = topId !== undefined && !catalog?.points.some((p) => p.id === topId);
  if (top && below && unrecorded && parseOverlay(below.file)?.pointId === tip?.id) {
    await mergeBack(ctx, domain, disk.target, top.file, below);
    say(`disk ${disk.target}: merged the overlay of unsaved point ${topId} back`);
    chain = withMerged(chain, below.file);
  }
  if (overlaysOf(chain).length > 1) {
    chain = await consolidateChain(ctx, domain, chain, "commit", false);
    say(`disk ${disk.target}: committed frozen overlays into ${ownImage(chain).file}`);
  }
  await removeOrphanOverlays(
    overlayBase(domain.name, disk.target, ownImage(chain)),
    new Set(chain.layers.map((l) => l.file)),
    disk.target,
    say,
  );
}

/**
 * Overlays named after this very image (or, for a block device, its place in virtsnap's overlay
 * folder) that no chain uses: made by a run that died before using them.
 */
async function removeOrphanOverlays(
  base: string,
  live: Set<string>,
  target: string,
  say: (a: string) => void,
) {
  const dir = path.dirname(base);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const file = path.join(dir, name);
    if (live.has(file) || parseOverlay(file)?.image !== base) continue;
    await fs.rm(file, { force: true });
    say(`disk ${target}: deleted unused overlay ${file}`);
  }
}
