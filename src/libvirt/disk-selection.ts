import { UsageError } from "../errors.js";
import type { Disk } from "../types.js";

export interface DiskFilter {
  include: string[] | undefined;
  exclude: string[];
  includeRaw: boolean;
}

export interface Skipped {
  target: string;
  reason: string;
}

export interface Selection {
  selected: Disk[];
  skipped: Skipped[];
}

/** Which disks a backup takes, by what the domain XML says (formats of own images come later). */
export function selectDisks(disks: Disk[], filter: DiskFilter): Selection {
  const known = new Set(disks.map((d) => d.target));
  for (const target of [...(filter.include ?? []), ...filter.exclude]) {
    if (!known.has(target))
      throw new UsageError(`the domain has no disk '${target}' (it has: ${[...known].join(", ")})`);
  }
  const selected: Disk[] = [];
  const skipped: Skipped[] = [];
  for (const disk of disks) {
    const reason = skipReason(disk, filter);
    if (reason) skipped.push({ target: disk.target, reason });
    else selected.push(disk);
  }
  return { selected, skipped };
}

function skipReason(disk: Disk, filter: DiskFilter): string | undefined {
  if (disk.device !== "disk") return `${disk.device} is never backed up`;
  if (filter.include && !filter.include.includes(disk.target)) return "not in --include";
  if (filter.exclude.includes(disk.target)) return "in --exclude";
  if (disk.type !== "file")
    return `type '${disk.type}' disks are not supported yet (only file-backed disks)`;
  if (!disk.source) return "no source file";
  if (disk.readonly) return "read-only disk";
  if (disk.shareable)
    return "shareable disk: another domain may write it, and an overlay or bitmap here would cut it off";
  if (disk.format !== "qcow2" && disk.format !== "raw")
    return `format '${disk.format}' is not supported`;
  return undefined;
}

/** Raw images have no way to track changes: only with --include-raw, then copied whole every point. */
export function rawSkip(
  target: string,
  ownFormat: string,
  includeRaw: boolean,
): Skipped | undefined {
  if (ownFormat === "qcow2") return undefined;
  if (ownFormat === "raw" && includeRaw) return undefined;
  if (ownFormat === "raw")
    return { target, reason: "raw image (use --include-raw to copy it whole each time)" };
  return { target, reason: `format '${ownFormat}' is not supported` };
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
