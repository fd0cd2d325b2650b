import fs from "node:fs/promises";
import type { Context } from "../context.js";
import { OperationError } from "../errors.js";
import { waitForBlockJob } from "../libvirt/block-job.js";
import { qemuImg } from "../qemu/qemu-img.js";
import type { Chain, Disk, Domain, Layer } from "../types.js";
import { overlaysOf, ownImage, readChain, top, withOverlay } from "./live-chain.js";
import { mergeBack } from "./merge-back.js";

export type Method = "commit" | "pull";

export interface DiskOutcome {
  target: string;
  before: string[];
  after: string[];
}

/**
 * Brings one disk back to `own image <- active overlay` (or, with allLayers, to the own image alone).
 * Only layers virtsnap created are merged or deleted; the own image and what lies below it stay put.
 */
export async function consolidateDisk(
  ctx: Context,
  domain: Domain,
  disk: Disk,
  method: Method,
  allLayers: boolean,
  bandwidthMiB?: number,
): Promise<DiskOutcome> {
  const chain = await readChain(ctx.run, disk);
  const after = await consolidateChain(ctx, domain, chain, method, allLayers, bandwidthMiB);
  return { target: disk.target, before: files(chain), after: files(after) };
}

/**
 * consolidateDisk on a chain the caller has read already. Returns the chain afterwards, read again
 * when something was merged: a block job can end without doing its work, and this is how it shows.
 */
export async function consolidateChain(
  ctx: Context,
  domain: Domain,
  chain: Chain,
  method: Method,
  allLayers: boolean,
  bandwidthMiB?: number,
): Promise<Chain> {
  const own = ownImage(chain);
  const overlays = overlaysOf(chain);
  if (allLayers ? overlays.length === 0 : overlays.length <= 1) return chain;
  if (allLayers) await mergeBack(ctx, domain, chain.target, top(chain).file, own);
  else if (method === "commit") await commitBelowActive(ctx, domain, chain, own, bandwidthMiB);
  else await pullIntoActive(ctx, domain, chain, own);
  const source = allLayers ? own.file : top(chain).file;
  const after = await readChain(ctx.run, { target: chain.target, source });
  await removeUnlinked(overlays, after);
  return after;
}

/** The backup's upkeep step: `active` was just created above `frozenChain`, whose top is now frozen. */
export async function commitFrozenLayers(
  ctx: Context,
  domain: Domain,
  frozenChain: Chain,
  active: string,
  bandwidthMiB?: number,
): Promise<void> {
  const chain = withOverlay(frozenChain, active);
  const after = await consolidateChain(ctx, domain, chain, "commit", false, bandwidthMiB);
  if (after.layers.length !== frozenChain.layers.length - overlaysOf(frozenChain).length + 1) {
    const shown = [...files(after)].reverse().join(" <- ");
    throw new OperationError(`live chain is ${shown}, expected own image <- one overlay`);
  }
}

async function commitBelowActive(
  ctx: Context,
  domain: Domain,
  chain: Chain,
  own: Layer,
  bandwidthMiB: number | undefined,
) {
  const active = top(chain);
  const frozenTop = chain.layers[1] as Layer;
  if (domain.active) {
    const target = chain.target;
    await ctx.run(
      ctx.virsh.blockCommit(domain.name, target, frozenTop.file, own.file, bandwidthMiB),
    );
    await waitForBlockJob(ctx, domain.name, chain.target);
    return;
  }
  await ctx.run(qemuImg.commit(frozenTop.file, own.file, bandwidthMiB));
  // The active overlay's data is a delta on top of frozenTop, which now lives inside own.
  await ctx.run(qemuImg.relink(active.file, own.file, own.format));
}

async function pullIntoActive(ctx: Context, domain: Domain, chain: Chain, own: Layer) {
  const active = top(chain);
  if (domain.active) {
    await ctx.run(ctx.virsh.blockPull(domain.name, chain.target, own.file));
    return;
  }
  await ctx.run(qemuImg.rebaseSafe(active.file, own.file, own.format));
}

/** Deletes virtsnap overlays that are no longer part of the live chain (libvirt's --delete may leave some). */
async function removeUnlinked(overlays: Layer[], after: Chain): Promise<void> {
  const live = new Set(files(after));
  for (const layer of overlays) if (!live.has(layer.file)) await fs.rm(layer.file, { force: true });
}

function files(chain: Chain): string[] {
  return chain.layers.map((l) => l.file);
}
