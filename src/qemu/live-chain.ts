import fs from "node:fs/promises";
import type { Run } from "../exec.js";
import { parseOverlay } from "../repo/paths.js";
import type { Chain, Disk, Layer } from "../types.js";
import { parseChain, qemuImg } from "./qemu-img.js";

/** The disk's backing chain as QEMU sees it, top first. Safe on a running domain (qemu-img -U). */
export async function readChain(run: Run, disk: Disk): Promise<Chain> {
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

export function top(chain: Chain): Layer {
  const layer = chain.layers[0];
  if (!layer) throw new Error(`disk ${chain.target}: empty chain`);
  return layer;
}

/** The point whose changes the top overlay collects, when the top is a virtsnap overlay. */
export function trackedPointId(chain: Chain): string | undefined {
  return parseOverlay(top(chain).file)?.pointId;
}
