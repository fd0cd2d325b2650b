import path from "node:path";
import type { Context } from "../context.js";
import { UsageError } from "../errors.js";
import { withPointFs } from "../guestfs/point.js";
import { type GuestfsSession, type Stat, splitFsPath, typeOf } from "../guestfs/session.js";

export interface FilesOptions {
  domain: string;
  backupDir: string;
  point: string;
  disk: string | undefined;
  /** `/dir`, or `/dev/sda1:/dir` to name the filesystem; default `/`. */
  path: string | undefined;
}

export interface FileEntry {
  name: string;
  type: string;
  size: number;
  /** Permission bits (e.g. 0o644), without the type. */
  mode: number;
  uid: number;
  gid: number;
  /** ISO time of the last modification. */
  mtime: string;
  /** Where a symlink points. */
  target?: string;
}

export interface FilesReport {
  domain: string;
  point: string;
  filesystem: string;
  disk: string | undefined;
  path: string;
  entries: FileEntry[];
}

/**
 * Lists a directory (or one file) of a point's filesystem from the repository's qcow2 chain,
 * through a read-only libguestfs appliance: no restore, no /dev/nbd, nothing written.
 */
export async function files(ctx: Context, options: FilesOptions): Promise<FilesReport> {
  const spec = splitFsPath(options.path ?? "/");
  return withPointFs(ctx, { ...options, command: "files" }, async (session, point) => {
    const fs = session.pick(spec.device, options.disk);
    await session.mount(fs);
    const dir = spec.path;
    if (!(await session.exists(dir)))
      throw new UsageError(`${dir} does not exist in point ${point.id} (filesystem ${fs.device})`);
    const self = await session.lstat(dir);
    const entries =
      typeOf(self.mode) === "directory"
        ? await listDir(session, dir)
        : [await single(session, dir, self)];
    return {
      domain: options.domain,
      point: point.id,
      filesystem: fs.device,
      disk: session.filesystems.find((f) => f.device === fs.device)?.disk,
      path: dir,
      entries,
    };
  });
}

async function listDir(session: GuestfsSession, dir: string): Promise<FileEntry[]> {
  const names = (await session.call("ls", dir)).split("\n").filter((n) => n !== "");
  const stats = await session.lstatList(dir, names);
  // One readlinklist for all the symlinks, not one guestfish call each (/usr/lib has thousands).
  const links = names.filter((_, i) => typeOf(stats[i]?.mode ?? 0) === "symlink");
  const targets = new Map(
    (await session.readlinkList(dir, links)).map((t, i) => [links[i] as string, t]),
  );
  return names.map((name, i) => {
    const e = entry(name, stats[i] as Stat);
    if (e.type === "symlink") e.target = targets.get(name) ?? "";
    return e;
  });
}

function entry(name: string, st: Stat): FileEntry {
  const type = typeOf(st.mode);
  const e: FileEntry = {
    name,
    type,
    size: st.size,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: new Date(Math.floor(st.mtime * 1000)).toISOString(),
  };
  return e;
}

async function single(session: GuestfsSession, file: string, st: Stat): Promise<FileEntry> {
  const e = entry(path.posix.basename(file), st);
  if (e.type === "symlink") e.target = (await session.call("readlink", file)).trim();
  return e;
}

/** `ls -l`-like lines: type+mode, uid:gid, size, mtime, name (-> target). */
export function renderFiles(report: FilesReport): string {
  const letter: Record<string, string> = { directory: "d", symlink: "l", file: "-" };
  const head = `point ${report.point}, ${report.filesystem}${report.disk ? ` (${report.disk})` : ""}: ${report.path}`;
  const rows = report.entries.map((e) => {
    const mode = `${letter[e.type] ?? "?"}${e.mode.toString(8).padStart(4, "0")}`;
    const owner = `${e.uid}:${e.gid}`.padEnd(11);
    const link = e.target !== undefined ? ` -> ${e.target}` : "";
    const when = e.mtime.replace("T", " ").replace(/\.\d+Z$/, "");
    return `${mode} ${owner} ${String(e.size).padStart(10)}  ${when}  ${e.name}${link}`;
  });
  return [head, ...rows].join("\n");
}
