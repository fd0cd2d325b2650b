import { ownImage, readChain } from "../chain/live-chain.js";
import { overlayBase, overlayPath, parseOverlay } from "../chain/names.js";
import type { Context } from "../context.js";
import { OperationError, UsageError } from "../errors.js";
import {
  type DiskFilter,
  formatSkip,
  type Skipped,
  selectDisks,
} from "../libvirt/disk-selection.js";
import type { HostFacts } from "../libvirt/host.js";
import type { Log } from "../log.js";
import { chainDepth } from "../repo/catalog.js";
import { exists } from "../repo/files.js";
import { nextPointId } from "../repo/paths.js";
import { planSnapshot, type SnapshotPlan } from "../snapshot/plan.js";
import type { Catalog, Chain, Domain, Mode } from "../types.js";
import type { BackupOptions, LevelOption, ModeOption } from "./backup-options.js";

// The decisions of a backup run, before anything changes: which disks, which mode, which level,
// which point id, and whether an earlier run left something to repair first.
/**
 * A new point id, after every id in the catalog and not yet used for an overlay beside any of the
 * disks: another repository of the same domain may have taken this second already.
 */
export async function freePointId(
  ctx: Context,
  catalog: Catalog,
  chains: Chain[],
  domain: string,
): Promise<string> {
  const taken = catalog.points.map((p) => p.id);
  const bases = chains.map((c) => overlayBase(domain, c.target, ownImage(c)));
  for (;;) {
    const id = nextPointId(ctx.now(), taken);
    const clash = await Promise.all(bases.map((base) => exists(overlayPath(base, id))));
    if (!clash.includes(true)) return id;
    taken.push(id);
  }
}

/** --full-every N: the current chain has N points, so this one starts a new chain. */
export function levelFor(catalog: Catalog, options: BackupOptions): LevelOption {
  if (options.fullEvery === undefined) return options.level;
  return chainDepth(catalog) >= options.fullEvery ? "full" : options.level;
}

/**
 * auto: cbt where libvirt offers the backup API and every qcow2 disk is v3 (persistent bitmaps
 * need compat 1.1), else snapshot. An explicit --mode cbt that cannot work is refused.
 */
export function resolveMode(option: ModeOption, chains: Chain[], host: HostFacts, log: Log): Mode {
  if (option === "snapshot") return "snapshot";
  const hostCbt = host.cbt;
  const v2 = chains
    .filter((c) => ownImage(c).format === "qcow2" && ownImage(c).compat !== "1.1")
    .map((c) => c.target);
  if (option === "cbt") {
    // asking for what this host cannot do is bad input (exit 2), as --level diff without cbt is
    if (!hostCbt) {
      throw new UsageError("this host's libvirt/QEMU has no backup support; use --mode snapshot");
    }
    if (v2.length > 0) {
      throw new OperationError(
        `${v2.join(", ")}: qcow2 v2 (compat 0.10) cannot hold bitmaps; use --mode snapshot or 'qemu-img amend -o compat=1.1'`,
      );
    }
    return "cbt";
  }
  if (hostCbt && v2.length === 0) return "cbt";
  log.info(
    hostCbt
      ? `${v2.join(", ")}: qcow2 v2, using snapshot mode`
      : "no backup API here: using snapshot mode",
  );
  return "snapshot";
}

/** The selected disks' live chains (each read once), and the disks left out with the reason. */
export async function selectChains(
  ctx: Context,
  domain: Domain,
  filter: DiskFilter,
): Promise<{ chains: Chain[]; skipped: Skipped[] }> {
  const { selected, skipped } = selectDisks(domain.disks, filter);
  const chains: Chain[] = [];
  // One qemu-img per disk, all at once: each costs a process start, none waits for another.
  const read = await Promise.all(selected.map((disk) => readChain(ctx.run, disk)));
  for (const chain of read) {
    const unsupported = formatSkip(chain.target, ownImage(chain).format);
    if (unsupported) skipped.push(unsupported);
    else chains.push(chain);
  }
  return { chains, skipped };
}

/** Says which disks are left out and why, once per run; refuses a domain left with none. */
export function tellChoice(
  ctx: Context,
  domain: Domain,
  chosen: { chains: Chain[]; skipped: Skipped[] },
) {
  for (const s of chosen.skipped) tellSkipped(ctx, domain, s);
  if (chosen.chains.length === 0)
    throw new OperationError(`domain '${domain.name}' has no disk to back up`);
}

/** A disk the guest writes and the user did not leave out is a warning each run, never silent. */
function tellSkipped(ctx: Context, domain: Domain, s: Skipped): void {
  const disk = domain.disks.find((d) => d.target === s.target);
  if (s.warn) ctx.log.warn(`${domain.name}: not backing up disk ${s.target}: ${s.reason}`);
  else ctx.log.info(`${domain.name}: not backing up ${s.target}: ${s.reason}`);
  // An overlay from an earlier run keeps growing while nothing backs the disk up any more.
  if (disk?.source && parseOverlay(disk.source)) {
    ctx.log.warn(
      `${domain.name}: disk ${s.target} still runs on ${disk.source}; 'virtsnap consolidate --all-layers' merges it`,
    );
  }
}

export function snapshotPlan(
  catalog: Catalog,
  chains: Chain[],
  pointId: string,
  level: LevelOption,
  domain: string,
): SnapshotPlan {
  if (level === "diff" || level === "copy")
    throw new UsageError(`--level ${level} needs --mode cbt`);
  const plan = planSnapshot(catalog, chains, pointId, level === "full", domain);
  if (level === "inc" && plan.level !== "inc") {
    throw new OperationError(
      "no chain to continue incrementally (first backup, or the live chain was consolidated); use --level full or auto",
    );
  }
  return plan;
}
