import path from "node:path";
import { ownImage, top, trackedPointId } from "../qemu/live-chain.js";
import { chainTip } from "../repo/catalog.js";
import { overlayPath, pointFile } from "../repo/paths.js";
import type { Catalog, Chain, Layer, Level, RestorePoint } from "../types.js";

/** What one snapshot-mode run does to one disk. */
export interface DiskJob {
  target: string;
  /** The live chain before the run, top first. */
  chain: Chain;
  /** The domain's own image: frozen layers are committed into it, never past it. */
  own: Layer;
  /** The current top: the snapshot freezes it, virtsnap copies it, then commits it into `own`. */
  frozen: Layer;
  /** The new active overlay the snapshot creates; it collects the changes after this point. */
  overlay: string;
  /** inc: `frozen` holds exactly the changes since the parent point; full: copy the flattened chain. */
  level: Extract<Level, "full" | "inc">;
  /** Repository file, relative to the domain's folder. */
  file: string;
  /** For inc: the parent point's file, relative to this file's folder (same chain folder). */
  backing: string | undefined;
}

export interface SnapshotPlan {
  pointId: string;
  chain: string;
  parent: RestorePoint | undefined;
  level: Extract<Level, "full" | "inc">;
  jobs: DiskJob[];
}

/**
 * Decides full or incremental, disk by disk. A disk can be incremental only when its top overlay
 * was named after the catalog's latest point: then it holds exactly the changes since that point.
 * Anything else (first run, a consolidated domain, an overlay from another repository, raw images)
 * gets a full copy; when no disk can be incremental, the point starts a new chain.
 */
export function planSnapshot(
  catalog: Catalog,
  chains: Chain[],
  pointId: string,
  forceFull = false,
): SnapshotPlan {
  const tip = chainTip(catalog);
  const parent = tip?.mode === "snapshot" && !forceFull ? tip : undefined;
  const incFrom = (chain: Chain) => {
    if (!parent || ownImage(chain).format === "raw" || trackedPointId(chain) !== parent.id)
      return undefined;
    return parent.disks.find((d) => d.target === chain.target);
  };
  const anyInc = chains.some((chain) => incFrom(chain) !== undefined);
  const chainId = anyInc && parent ? parent.chain : pointId;
  const jobs = chains.map((chain): DiskJob => {
    const parentDisk = anyInc ? incFrom(chain) : undefined;
    const level = parentDisk ? "inc" : "full";
    const own = ownImage(chain);
    return {
      target: chain.target,
      chain,
      own,
      frozen: top(chain),
      overlay: overlayPath(own.file, pointId),
      level,
      file: pointFile(chainId, chain.target, pointId, level),
      backing: parentDisk ? path.basename(parentDisk.file) : undefined,
    };
  });
  return {
    pointId,
    chain: chainId,
    parent: anyInc ? parent : undefined,
    level: anyInc ? "inc" : "full",
    jobs,
  };
}
