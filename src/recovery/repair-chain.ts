import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { defineWithSources } from "../libvirt/define.js";
import { isImageDisk } from "../libvirt/disk-selection.js";
import { overlaysOf, ownImage, readChain } from "../qemu/live-chain.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { chainTip } from "../repo/catalog.js";
import { overlayBase, parseOverlay } from "../repo/paths.js";
import { consolidateDisk } from "../snapshot/consolidate.js";
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
    await mergeTopInto(ctx, domain, disk, top.file, below.file, below.format);
    say(`disk ${disk.target}: merged the overlay of unsaved point ${topId} back`);
    chain = await readChain(ctx.run, { ...disk, source: below.file });
  }
  if (overlaysOf(chain).length > 1) {
    const source = chain.layers[0]?.file;
    await consolidateDisk(ctx, domain, { ...disk, source }, "commit", false);
    say(`disk ${disk.target}: committed frozen overlays into ${ownImage(chain).file}`);
    chain = await readChain(ctx.run, { ...disk, source });
  }
  await removeOrphanOverlays(
    overlayBase(domain.name, disk.target, ownImage(chain)),
    new Set(chain.layers.map((l) => l.file)),
    disk.target,
    say,
  );
}

async function mergeTopInto(
  ctx: Context,
  domain: Domain,
  disk: Disk,
  top: string,
  below: string,
  format: string,
) {
  if (domain.active) {
    await ctx.run(ctx.virsh.blockCommitActive(domain.name, disk.target, below));
    return;
  }
  await ctx.run(qemuImg.commit(top, below));
  const xml = (await ctx.run(ctx.virsh.dumpXml(domain.name, true))).stdout;
  await defineWithSources(ctx, xml, new Map([[disk.target, { file: below, format }]]));
  await fs.rm(top, { force: true });
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
