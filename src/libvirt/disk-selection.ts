import { UsageError } from "../errors.js";
import type { Disk, ExcludedDisk } from "../types.js";

export interface DiskFilter {
  include: string[] | undefined;
  exclude: string[];
}

/**
 * A disk a backup leaves out. `warn`: the guest can write it and the user did not leave it out,
 * so a point without it is a loss the admin must hear about (`--exclude` silences it).
 */
export interface Skipped extends ExcludedDisk {
  warn: boolean;
}

export interface Selection {
  selected: Disk[];
  skipped: Skipped[];
}

/** Disk types whose data virtsnap can reach as an image: a file, or a block device (LVM, a partition). */
const IMAGE_TYPES = ["file", "block"];

/** A disk with an image virtsnap may have put an overlay on: live-chain upkeep and repair look at these. */
export function isImageDisk(disk: Disk): boolean {
  return disk.device === "disk" && IMAGE_TYPES.includes(disk.type) && disk.source !== undefined;
}

/**
 * Which disks a backup takes, by what the domain XML says (formats of own images come later):
 * every qcow2 or raw disk on a file or a block device, unless --exclude (or --include) leaves it out.
 */
export function selectDisks(disks: Disk[], filter: DiskFilter): Selection {
  const known = new Set(disks.map((d) => d.target));
  for (const target of [...(filter.include ?? []), ...filter.exclude]) {
    if (!known.has(target))
      throw new UsageError(`the domain has no disk '${target}' (it has: ${[...known].join(", ")})`);
  }
  const selected: Disk[] = [];
  const skipped: Skipped[] = [];
  for (const disk of disks) {
    const skip = skipOf(disk, filter);
    if (skip) skipped.push({ target: disk.target, ...skip });
    else selected.push(disk);
  }
  return { selected, skipped };
}

function skipOf(disk: Disk, filter: DiskFilter): Omit<Skipped, "target"> | undefined {
  // Removable media hold no guest data worth a point; the XML keeps them.
  if (disk.device === "cdrom" || disk.device === "floppy")
    return { reason: `${disk.device}: never backed up`, warn: false };
  if (filter.include && !filter.include.includes(disk.target))
    return { reason: "left out: not in --include", warn: false };
  if (filter.exclude.includes(disk.target)) return { reason: "left out by --exclude", warn: false };
  const never = neverReason(disk);
  if (never) return { reason: never, warn: !disk.readonly };
  if (!disk.source) return { reason: "no source image", warn: false };
  if (disk.format !== undefined && disk.format !== "qcow2" && disk.format !== "raw")
    return { reason: `format '${disk.format}' is not supported`, warn: true };
  return undefined;
}

/** Disks virtsnap never touches (DESIGN.md): what it cannot copy safely, or must not cut off. */
function neverReason(disk: Disk): string | undefined {
  if (disk.device === "lun")
    return "lun (SCSI passthrough): never backed up; back it up on its storage";
  if (disk.type === "network")
    return "network disk: never backed up; back it up on its storage server";
  if (!IMAGE_TYPES.includes(disk.type))
    return `type '${disk.type}' disks are not supported (only files and block devices)`;
  if (disk.readonly) return "read-only disk: never backed up";
  if (disk.shareable)
    return "shareable disk: never backed up (another domain may write it, and an overlay or bitmap here would cut it off)";
  return undefined;
}

/** The own image's format, known once its chain is read: qcow2 and raw are taken, others left out. */
export function formatSkip(target: string, ownFormat: string): Skipped | undefined {
  if (ownFormat === "qcow2" || ownFormat === "raw") return undefined;
  return { target, reason: `format '${ownFormat}' is not supported`, warn: true };
}

export function parseDeviceList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new UsageError("an empty device list was given");
  return list;
}
