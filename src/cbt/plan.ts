import path from "node:path";
import { ownImage } from "../chain/live-chain.js";
import { OperationError } from "../errors.js";
import { chainTip } from "../repo/catalog.js";
import { pointFile } from "../repo/paths.js";
import type { Catalog, Chain, ExcludedDisk, Layer, Level, RestorePoint } from "../types.js";
import { checkpointName, checkpointOf } from "./names.js";

export type CbtLevelOption = "auto" | Level;

export interface CbtDiskJob {
  target: string;
  /** The image QEMU writes to once virtsnap overlays are merged: it carries the bitmaps. */
  own: Layer;
  /** Level of this disk's file: raw disks and disks new to the chain are copied whole. */
  level: Level;
  file: string;
  /** Parent point's file, relative to this file's folder. */
  backing: string | undefined;
  /** Whether the new checkpoint tracks this disk (qcow2 only; raw images cannot hold a bitmap). */
  bitmap: boolean;
  /** Why this disk of an incremental point is copied whole (recorded in the catalog). */
  wholeReason: string | undefined;
}

export interface CbtPlan {
  pointId: string;
  chain: string;
  level: Level;
  parent: RestorePoint | undefined;
  /** Checkpoint the job reads changes since (inc: the latest point's, diff: the chain's full's). */
  incrementalFrom: string | undefined;
  /** Checkpoint the job creates; none for a copy, which touches no checkpoint. */
  checkpoint: string | undefined;
  /** The checkpoint the job starts from (redefined from saved XML if lost). */
  needs: string[];
  /** Checkpoints to keep after the job; this repository's others are deleted (bitmaps stay few). */
  keep: string[];
  jobs: CbtDiskJob[];
  /** The domain's disks this point leaves out, recorded in the catalog (filled in by backup). */
  excluded?: ExcludedDisk[];
}

export function planCbt(
  catalog: Catalog,
  chains: Chain[],
  pointId: string,
  option: CbtLevelOption,
): CbtPlan {
  const repoId = catalog.repoId;
  if (!repoId) throw new Error("planCbt needs the repository's id (withRepoId)");
  const tip = chainTip(catalog);
  const continuable = tip?.mode === "cbt" ? tip : undefined;
  const level: Level = option === "auto" ? (continuable ? "inc" : "full") : option;
  if (level === "full" || level === "copy") {
    const checkpoint = level === "full" ? checkpointName(repoId, pointId) : undefined;
    return standalone(chains, pointId, level, checkpoint);
  }
  if (!continuable) {
    throw new OperationError(
      `no cbt chain to continue with --level ${level}; use --level full or auto`,
    );
  }
  const full = catalog.points.find((p) => p.chain === continuable.chain) as RestorePoint;
  const parent = level === "diff" ? full : continuable;
  const from = checkpointOf(parent) as string;
  const checkpoint = checkpointName(repoId, pointId);
  return {
    pointId,
    chain: continuable.chain,
    level,
    parent,
    incrementalFrom: from,
    checkpoint,
    needs: [from],
    keep: [...new Set([checkpointOf(full) as string, checkpoint])],
    jobs: chains.map((chain) => diskJob(chain, continuable.chain, pointId, level, parent)),
  };
}

function standalone(
  chains: Chain[],
  pointId: string,
  level: "full" | "copy",
  checkpoint: string | undefined,
): CbtPlan {
  return {
    pointId,
    chain: pointId,
    level,
    parent: undefined,
    incrementalFrom: undefined,
    checkpoint,
    needs: [],
    keep: checkpoint ? [checkpoint] : [],
    jobs: chains.map((chain) => diskJob(chain, pointId, pointId, level, undefined)),
  };
}

function diskJob(
  chain: Chain,
  chainId: string,
  pointId: string,
  level: Level,
  parent: RestorePoint | undefined,
): CbtDiskJob {
  const own = ownImage(chain);
  const raw = own.format === "raw";
  const parentDisk = raw ? undefined : parent?.disks.find((d) => d.target === chain.target);
  const fileLevel: Level = parentDisk || level === "copy" ? level : "full";
  const whole = fileLevel !== level;
  return {
    target: chain.target,
    own,
    level: fileLevel,
    file: pointFile(chainId, chain.target, pointId, fileLevel),
    backing: parentDisk ? path.basename(parentDisk.file) : undefined,
    bitmap: !raw && level !== "copy",
    wholeReason: !whole
      ? undefined
      : raw
        ? `raw ${own.block ? "block device" : "image"}: no dirty bitmap, copied whole at every point (--mode snapshot keeps it incremental)`
        : "not in the previous point: copied whole",
  };
}
