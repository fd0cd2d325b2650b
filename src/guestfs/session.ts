import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "../context.js";
import { CommandError, OperationError, UsageError } from "../errors.js";
import {
  diskIndexOf,
  type Filesystem,
  guestfish,
  parseFilesystems,
  parseListenPid,
  parseStats,
} from "./guestfish.js";

/** One disk of a point, as added to the appliance (in this order: /dev/sda, /dev/sdb, ...). */
export interface SessionDisk {
  target: string;
  file: string;
}

export interface Stat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  atime: number;
}

/**
 * A read-only guestfish server over a point's disks: one appliance launch (~20 s under TCG, a few
 * seconds with KVM) serves every operation of a command. Always close() it.
 */
export class GuestfsSession {
  private mounted: string | undefined;

  private constructor(
    private readonly ctx: Context,
    private readonly pid: number,
    /** The server's stderr: libguestfs writes the reason of a failed command there. */
    private readonly errors: string,
    readonly disks: SessionDisk[],
    readonly filesystems: (Filesystem & { disk: string | undefined })[],
  ) {}

  static async open(ctx: Context, disks: SessionDisk[]): Promise<GuestfsSession> {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-guestfs-"));
    const errors = path.join(tmp, "stderr");
    let pid: number | undefined;
    try {
      const listen = await ctx.run(guestfish.listen(disks.map((d) => d.file)), {
        stderrFile: errors,
      });
      pid = parseListenPid(listen.stdout);
      if (pid === undefined)
        throw new OperationError(`guestfish --listen printed no PID: ${listen.stdout.trim()}`);
    } catch (error) {
      // No server to close(): the folder of its stderr goes here.
      await fs.rm(tmp, { recursive: true, force: true });
      throw error;
    }
    tellApplianceStarts(ctx);
    const session = new GuestfsSession(ctx, pid, errors, disks, []);
    try {
      await session.call("run");
      const found = parseFilesystems(await session.call("list-filesystems"));
      const filesystems = found.map((f) => ({
        ...f,
        disk: disks[diskIndexOf(f.device) ?? -1]?.target,
      }));
      return new GuestfsSession(ctx, pid, errors, disks, filesystems);
    } catch (error) {
      await session.close();
      throw error;
    }
  }

  /** One guestfish command; a failure ends the server, and its reason is in the server's stderr. */
  async call(...command: string[]): Promise<string> {
    try {
      const cmd = guestfish.remote(this.pid, ...command);
      return (await this.ctx.run(cmd, { signal: this.ctx.signal })).stdout;
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      const said = await fs.readFile(this.errors, "utf8").catch(() => "");
      const reason = said.trim().split("\n").filter(Boolean).at(-1) ?? error.message;
      const why = reason.replace(/^libguestfs: error: /, "");
      throw new CommandError(`guestfish ${command[0]}: ${why}`, "guestfish", said, error.exitCode);
    }
  }

  /** See pickFilesystem. */
  pick(device: string | undefined, disk: string | undefined): Filesystem {
    return pickFilesystem(this.filesystems, device, disk);
  }

  /** Mounts `fs` read-only on / (unmounting any other first). */
  async mount(fs: Filesystem): Promise<void> {
    if (this.mounted === fs.device) return;
    if (this.mounted !== undefined) await this.call("umount-all");
    await this.call("mount-ro", fs.device, "/");
    this.mounted = fs.device;
  }

  /** As lstat sees it: `exists` follows symlinks, so a dangling one would look missing. */
  async exists(file: string): Promise<boolean> {
    if ((await this.call("exists", file)).trim() === "true") return true;
    return (await this.call("is-symlink", file)).trim() === "true";
  }

  async lstat(file: string): Promise<Stat> {
    return toStat(parseStats(await this.call("lstatns", file))[0] ?? {});
  }

  /**
   * lstat of each name in `dir`. guestfish takes the names as one space-separated argument, so
   * names that are plain go in one call and the others one by one.
   */
  async lstatList(dir: string, names: string[]): Promise<Stat[]> {
    const plain = names.filter((n) => /^[^\s"'\\]+$/.test(n));
    const stats = new Map<string, Stat>();
    for (let i = 0; i < plain.length; i += 500) {
      const batch = plain.slice(i, i + 500);
      const found = parseStats(await this.call("lstatnslist", dir, batch.join(" ")));
      for (const [j, n] of batch.entries()) stats.set(n, toStat(found[j] ?? {}));
    }
    for (const n of names)
      if (!stats.has(n)) stats.set(n, await this.lstat(path.posix.join(dir, n)));
    return names.map((n) => stats.get(n) as Stat);
  }

  /** Every name below `dir` (relative to it, as find0 gives them) with its type. */
  async findAll(dir: string): Promise<{ name: string; type: string }[]> {
    // find0 writes its NUL-separated list into a host file: the session's own folder.
    const list = path.join(path.dirname(this.errors), "find0");
    await this.call("find0", dir, list);
    // find0 / gives "etc", find0 /etc gives "/passwd": relative either way.
    const names = (await fs.readFile(list, "utf8"))
      .split("\0")
      .filter((n) => n !== "")
      .map((n) => n.replace(/^\/+/, ""));
    await fs.rm(list, { force: true });
    const stats = await this.lstatList(dir, names);
    return names.map((name, i) => ({ name, type: typeOf(stats[i]?.mode ?? 0) }));
  }

  /** Where each symlink `names` of `dir` points: batched as lstatList is. */
  async readlinkList(dir: string, names: string[]): Promise<string[]> {
    const plain = names.filter((n) => /^[^\s"'\\]+$/.test(n));
    const targets = new Map<string, string>();
    for (let i = 0; i < plain.length; i += 500) {
      const batch = plain.slice(i, i + 500);
      const found = (await this.call("readlinklist", dir, batch.join(" "))).split("\n");
      for (const [j, n] of batch.entries()) targets.set(n, found[j] ?? "");
    }
    for (const n of names)
      if (!targets.has(n))
        targets.set(n, (await this.call("readlink", path.posix.join(dir, n))).trim());
    return names.map((n) => targets.get(n) as string);
  }

  async close(): Promise<void> {
    await this.ctx.run(guestfish.remote(this.pid, "exit")).catch(() => undefined);
    await fs.rm(path.dirname(this.errors), { recursive: true, force: true });
  }
}

/** libguestfs boots a small VM first (20-50 s under TCG): say so on a terminal, else in --debug. */
export function tellApplianceStarts(ctx: Pick<Context, "log" | "progress">): void {
  const say = ctx.progress.enabled ? ctx.log.info : ctx.log.debug;
  say.call(ctx.log, "starting the libguestfs appliance to read the point's disks (takes a while)");
}

function toStat(r: Record<string, number>): Stat {
  return {
    mode: r.st_mode ?? 0,
    uid: r.st_uid ?? 0,
    gid: r.st_gid ?? 0,
    size: r.st_size ?? 0,
    mtime: (r.st_mtime_sec ?? 0) + (r.st_mtime_nsec ?? 0) / 1e9,
    atime: (r.st_atime_sec ?? 0) + (r.st_atime_nsec ?? 0) / 1e9,
  };
}

/** `/dev/sda1:/etc` -> device /dev/sda1, path /etc; `/etc` -> no device. */
export function splitFsPath(spec: string): { device: string | undefined; path: string } {
  const m = /^(\/dev\/[^:]+):(\/.*)$/.exec(spec);
  // Normalized, so that the name of "/etc/." is "etc" and "/etc/.." is seen to be "/".
  if (m) return { device: m[1], path: path.posix.normalize(m[2] as string) };
  if (!spec.startsWith("/")) throw new UsageError(`'${spec}' is not an absolute path in the guest`);
  return { device: undefined, path: path.posix.normalize(spec) };
}

const TYPES: [number, string][] = [
  [0o040000, "directory"],
  [0o100000, "file"],
  [0o120000, "symlink"],
  [0o020000, "char"],
  [0o060000, "block"],
  [0o010000, "fifo"],
  [0o140000, "socket"],
];

export function typeOf(mode: number): string {
  return TYPES.find(([bits]) => (mode & 0o170000) === bits)?.[1] ?? "unknown";
}

type Found = Filesystem & { disk: string | undefined };

/**
 * The filesystem `device` names (as libguestfs reports it), or the only one on the chosen disk
 * (or on all disks). Several and none named: a usage error that lists them.
 */
export function pickFilesystem(
  all: Found[],
  device: string | undefined,
  disk: string | undefined,
): Filesystem {
  const candidates = all.filter((f) => disk === undefined || f.disk === disk);
  if (device !== undefined) {
    const fs = all.find((f) => f.device === device);
    if (!fs) throw new UsageError(`no filesystem ${device} in this point (${describe(all)})`);
    return fs;
  }
  if (candidates.length === 1) return candidates[0] as Filesystem;
  if (candidates.length === 0)
    throw new UsageError(
      `no filesystem libguestfs can mount${disk ? ` on disk ${disk}` : ""} (${describe(all)})`,
    );
  throw new UsageError(
    `this point has several filesystems (${describe(candidates)}): name one, as in /dev/sda1:/etc`,
  );
}

function describe(list: Found[]): string {
  if (list.length === 0) return "it has none";
  return list.map((f) => `${f.device} ${f.type}${f.disk ? ` on ${f.disk}` : ""}`).join(", ");
}
