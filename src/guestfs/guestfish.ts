import type { Cmd } from "../exec.js";

/**
 * guestfish builders. Every session is `--ro`: libguestfs puts a throwaway overlay over the images,
 * so neither the repository's qcow2 files nor their backing chain are ever written.
 */
export const guestfish = {
  /** Starts a guestfish server in the background; it prints `GUESTFISH_PID=N; export ...`. */
  listen: (images: string[]): Cmd => ({
    file: "guestfish",
    args: ["--listen", "--ro", ...images.flatMap((f) => ["--format=qcow2", "-a", f])],
    mutates: false,
  }),

  /** One command in the server `pid` (one appliance for the whole session). */
  remote: (pid: number, ...command: string[]): Cmd => ({
    file: "guestfish",
    args: [`--remote=${pid}`, "--", ...command],
    mutates: false,
  }),
};

/** `GUESTFISH_PID=1234; export GUESTFISH_PID` -> 1234. */
export function parseListenPid(stdout: string): number | undefined {
  const m = /GUESTFISH_PID=(\d+)/.exec(stdout);
  return m ? Number(m[1]) : undefined;
}

export interface Filesystem {
  /** As libguestfs names it: /dev/sda, /dev/sdb1, /dev/vg/lv. */
  device: string;
  type: string;
}

/** `list-filesystems`: "/dev/sda1: ext4" lines; swap and unknown ones cannot be mounted. */
export function parseFilesystems(stdout: string): Filesystem[] {
  return stdout
    .split("\n")
    .map((l) => /^(\S+): (\S+)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ device: m[1] as string, type: m[2] as string }))
    .filter((f) => f.type !== "swap" && f.type !== "unknown")
    .sort(byDiskThenPartition);
}

/** /dev/sda2 before /dev/sda10 (a string sort puts 10 first), /dev/sdz before /dev/sdaa; LVs last. */
function byDiskThenPartition(a: Filesystem, b: Filesystem): number {
  const key = (device: string): [number, number] => [
    diskIndexOf(device) ?? Number.POSITIVE_INFINITY,
    Number(/^\/dev\/sd[a-z]+(\d+)$/.exec(device)?.[1] ?? 0),
  ];
  const [da, pa] = key(a.device);
  const [db, pb] = key(b.device);
  if (da !== db) return da < db ? -1 : 1;
  return pa - pb || a.device.localeCompare(b.device);
}

/** Which of the added disks a device sits on: /dev/sdb1 -> 1; LVs and md devices: undefined. */
export function diskIndexOf(device: string): number | undefined {
  const m = /^\/dev\/sd([a-z]+)\d*$/.exec(device);
  if (!m) return undefined;
  return [...(m[1] as string)].reduce((n, c) => n * 26 + (c.charCodeAt(0) - 96), 0) - 1;
}

/** The struct lines of `lstatns`/`lstatnslist` output, one record per `{ ... }`. */
export function parseStats(stdout: string): Record<string, number>[] {
  const records: Record<string, number>[] = [];
  let current: Record<string, number> | undefined;
  for (const line of stdout.split("\n")) {
    const t = line.trim();
    if (t.endsWith("{")) current = {};
    else if (t === "}" && current) {
      records.push(current);
      current = undefined;
    } else {
      const m = /^(\w+): (-?\d+)$/.exec(t);
      if (m) {
        current ??= {};
        current[m[1] as string] = Number(m[2]);
      }
    }
  }
  if (current && Object.keys(current).length > 0) records.push(current);
  return records;
}
