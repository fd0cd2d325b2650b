import fs from "node:fs/promises";
import type { Run } from "../exec.js";
import { parseChain, qemuImg } from "../qemu/qemu-img.js";
import type { Chain, Disk, Layer } from "../types.js";
import { parseOverlay } from "./names.js";

/**
 * The disk's backing chain as QEMU sees it, top first. Safe on a running domain (qemu-img -U).
 * Read it once per disk per run: after virtsnap's own changes, withOverlay and withMerged say what
 * the chain became, and only a block job's outcome (which can fail quietly) is read again.
 */
export async function readChain(run: Run, disk: Pick<Disk, "target" | "source">): Promise<Chain> {
  if (!disk.source) throw new Error(`disk ${disk.target} has no source file`);
  const { stdout } = await run(qemuImg.chain(disk.source));
  const layers = await Promise.all(parseChain(stdout).map(markBlock));
  return { target: disk.target, layers };
}

/**
 * qemu-img does not say whether a layer is a file or a block device (an LVM volume, raw or qcow2
 * on it): stat does.
 */
async function markBlock(layer: Layer): Promise<Layer> {
  const stat = await fs.stat(layer.file).catch(() => undefined);
  return stat?.isBlockDevice() ? { ...layer, block: true } : layer;
}

export function isVirtsnapOverlay(layer: Layer): boolean {
  return parseOverlay(layer.file) !== undefined;
}

/**
 * The domain's own image: the topmost layer virtsnap did not create. virtsnap commits into it and
 * never into, past or over anything below it (a linked clone's template stays untouched).
 */
export function ownImage(chain: Chain): Layer {
  const own = chain.layers.find((layer) => !isVirtsnapOverlay(layer));
  if (!own) throw new Error(`disk ${chain.target}: chain has only virtsnap overlays`);
  return own;
}

/** virtsnap overlays above the own image, top first. */
export function overlaysOf(chain: Chain): Layer[] {
  const own = ownImage(chain);
  return chain.layers.slice(0, chain.layers.indexOf(own));
}

/**
 * At most the bytes a flattened copy of the chain holds: what its files take on disk (a block
 * device counts whole, its allocation is not known).
 */
export function bytesToCopy(chain: Chain): number {
  return chain.layers.reduce((sum, l) => sum + (l.block ? l.virtualSize : l.actualSize), 0);
}

export function top(chain: Chain): Layer {
  const layer = chain.layers[0];
  if (!layer) throw new Error(`disk ${chain.target}: empty chain`);
  return layer;
}

/** The point whose changes the top overlay collects, when the top is a virtsnap overlay. */
export function trackedPointId(chain: Chain): string | undefined {
  return parseOverlay(top(chain).file)?.pointId;
}

/** The chain once a snapshot put the new (empty qcow2) overlay `file` on top of it. */
export function withOverlay(chain: Chain, file: string): Chain {
  const below = top(chain);
  const overlay: Layer = {
    file,
    format: "qcow2",
    virtualSize: below.virtualSize,
    actualSize: 0,
    backing: below.file,
    // not read from the file: nothing asks an overlay virtsnap made for its qcow2 version
    compat: undefined,
  };
  return { target: chain.target, layers: [overlay, ...chain.layers] };
}

/** The chain once everything above `base` was merged into it: base is the top again. */
export function withMerged(chain: Chain, base: string): Chain {
  const at = chain.layers.findIndex((layer) => layer.file === base);
  if (at < 0) throw new Error(`disk ${chain.target}: ${base} is not in its chain`);
  return { target: chain.target, layers: chain.layers.slice(at) };
}
