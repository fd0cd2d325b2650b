import path from "node:path";
import { ownImage, top, trackedPointId } from "../chain/live-chain.js";
import { overlayBase, overlayPath } from "../chain/names.js";
import { chainTip } from "../repo/catalog.js";
import { pointFile } from "../repo/paths.js";
import type { Catalog, Chain, ExcludedDisk, Layer, Level, RestorePoint } from "../types.js";

/** What one snapshot-mode run does to one disk. */
export interface DiskJob {
  target: string;
  /** The live chain before the run, top first. */
  chain: Chain;
  /** The domain's own image: frozen layers are committed into it, never past it. */
  own: Layer;
  /** The current top: the snapshot freezes it, virtsnap copies it, then commits it into `own`. */
  frozen: Layer;
  /**
   * The new active overlay the snapshot creates; it collects the changes after this point. Beside
   * a file image (qcow2 or raw); for a block device in BLOCK_OVERLAY_DIR/<domain>/.
   */
  overlay: string;
  /** inc: `frozen` holds exactly the changes since the parent point; full: copy the flattened chain. */
  level: Extract<Level, "full" | "inc">;
  /** Repository file, relative to the domain's folder. */
  file: string;
  /** For inc: the parent point's file, relative to this file's folder (same chain folder). */
  backing: string | undefined;
  /** Why a disk of an incremental point is copied whole (it is new to the chain). */
  wholeReason: string | undefined;
}

export interface SnapshotPlan {
  pointId: string;
  chain: string;
  parent: RestorePoint | undefined;
  level: Extract<Level, "full" | "inc">;
  jobs: DiskJob[];
  /** The domain's disks this point leaves out, recorded in the catalog (filled in by backup). */
  excluded?: ExcludedDisk[];
}

/**
 * Decides full or incremental, disk by disk. A disk can be incremental only when its top overlay
 * was named after the catalog's latest point: then it holds exactly the changes since that point.
 * That holds for raw files and block devices too (their overlay is qcow2 like any other). Anything
 * else (first run, a consolidated domain, an overlay from another repository) gets a full copy;
 * when no disk can be incremental, the point starts a new chain.
 */
export function planSnapshot(
  catalog: Catalog,
  chains: Chain[],
  pointId: string,
  forceFull: boolean,
  domain: string,
): SnapshotPlan {
  const tip = chainTip(catalog);
  const parent = tip?.mode === "snapshot" && !forceFull ? tip : undefined;
  const incFrom = (chain: Chain) => {
    if (!parent || trackedPointId(chain) !== parent.id) return undefined;
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
      overlay: overlayPath(overlayBase(domain, chain.target, own), pointId),
      level,
      file: pointFile(chainId, chain.target, pointId, level),
      backing: parentDisk ? path.basename(parentDisk.file) : undefined,
      wholeReason: anyInc && !parentDisk ? wholeReason(chain, parent) : undefined,
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

/** A disk that cannot continue the chain inside an incremental: new to it, or its overlay is not the parent's. */
function wholeReason(chain: Chain, parent: RestorePoint | undefined): string {
  if (!parent?.disks.some((d) => d.target === chain.target))
    return "not in the previous point: copied whole";
  return "its overlay does not track the previous point (consolidated?): copied whole";
}
