import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { describeIoError, UsageError } from "../errors.js";
import { withPointFs } from "../guestfs/point.js";
import { type GuestfsSession, type Stat, splitFsPath, typeOf } from "../guestfs/session.js";
import { exists } from "../repo/files.js";

export interface ExtractOptions {
  domain: string;
  backupDir: string;
  point: string;
  disk: string | undefined;
  /** Guest paths, each `/path` or `/dev/sda1:/path`. */
  paths: string[];
  to: string;
}

export interface ExtractReport {
  domain: string;
  point: string;
  to: string;
  extracted: { path: string; filesystem: string; type: string; file: string }[];
}

/**
 * Copies files and directories out of a point into `to`, keeping owners, modes and times: one
 * read-only libguestfs session, the repository untouched. Every path is checked first, so a
 * missing one copies nothing; an existing destination is never overwritten.
 */
export async function extract(ctx: Context, options: ExtractOptions): Promise<ExtractReport> {
  const specs = options.paths.map(splitFsPath);
  const to = path.resolve(options.to);
  if (specs.some((s) => s.path === "/"))
    throw new UsageError("extract copies paths below /; for a whole filesystem restore the point");
  const names = specs.map((s) => path.posix.basename(s.path));
  if (new Set(names).size !== names.length)
    throw new UsageError("two paths have the same name; extract them into different --to folders");
  for (const n of names)
    if (await exists(path.join(to, n)))
      throw new UsageError(`${path.join(to, n)} already exists; extract never overwrites files`);
  return withPointFs(ctx, { ...options, command: "extract" }, async (session, point) => {
    const found: { fs: string; path: string; stat: Stat; file: string }[] = [];
    for (const [i, spec] of specs.entries()) {
      const filesystem = session.pick(spec.device, options.disk);
      await session.mount(filesystem);
      if (!(await session.exists(spec.path)))
        throw new UsageError(
          `${spec.path} does not exist in point ${point.id} (filesystem ${filesystem.device})`,
        );
      const stat = await session.lstat(spec.path);
      if (!COPIED.includes(typeOf(stat.mode)))
        throw new UsageError(
          `${spec.path} is a ${typeOf(stat.mode)}; extract copies files, directories and symlinks`,
        );
      if (typeOf(stat.mode) === "directory") await refuseSpecialFiles(session, spec.path);
      found.push({
        fs: filesystem.device,
        path: spec.path,
        stat,
        file: path.join(to, names[i] as string),
      });
    }
    // Copied into a 0700 folder first, set-id bits dropped there, then moved into place: no other
    // user ever sees a guest's file with the guest's owner and a set-uid bit on this host.
    const staging = await fs
      .mkdir(to, { recursive: true })
      .then(() => fs.mkdtemp(path.join(to, ".virtsnap-extract-")))
      .catch((error) => {
        throw describeIoError(error, `cannot write into ${to}`);
      });
    try {
      const extracted: ExtractReport["extracted"] = [];
      for (const f of found) {
        await session.mount({ device: f.fs, type: "" });
        const type = typeOf(f.stat.mode);
        const staged = path.join(staging, path.basename(f.file));
        ctx.log.debug(`${f.fs}:${f.path} -> ${f.file}`);
        await copyOut(session, f.path, type, f.stat, staged);
        await dropSetId(staged);
        await fs.rename(staged, f.file);
        extracted.push({ path: f.path, filesystem: f.fs, type, file: f.file });
      }
      return { domain: options.domain, point: point.id, to, extracted };
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  });
}

const COPIED = ["directory", "file", "symlink"];

/**
 * copy-out unpacks the guest's tar with the host's tar, as root: it would make the guest's device
 * nodes (a /dev/sda of the host's, readable by the guest's users) and fifos here. Refused instead.
 */
async function refuseSpecialFiles(session: GuestfsSession, dir: string): Promise<void> {
  const special = (await session.findAll(dir)).filter((e) => !COPIED.includes(e.type));
  const first = special[0];
  if (first)
    throw new UsageError(
      `${dir} holds ${special.length} special file(s) (${path.posix.join(dir, first.name)} is a ${first.type}); extract copies files, directories and symlinks: extract the others by name`,
    );
}

/** A guest's set-uid/set-gid bits (its uid 0 is kept as owner) would be a root shell here. */
async function dropSetId(file: string): Promise<void> {
  const st = await fs.lstat(file);
  if (st.isSymbolicLink()) return;
  if (st.mode & 0o6000) await fs.chmod(file, st.mode & 0o1777);
  if (!st.isDirectory()) return;
  for (const name of await fs.readdir(file)) await dropSetId(path.join(file, name));
}

async function copyOut(
  session: GuestfsSession,
  from: string,
  type: string,
  st: Stat,
  file: string,
): Promise<void> {
  if (type === "directory") {
    // copy-out unpacks the guest's tar as `file`: owners, modes and times as in the guest.
    await session.call("copy-out", from, path.dirname(file));
    return;
  }
  if (type === "symlink") await fs.symlink((await session.call("readlink", from)).trim(), file);
  else await session.call("download", from, file);
  await fs.lchown(file, st.uid, st.gid);
  // After chown, which clears set-uid bits; they are not kept (see dropSetId).
  if (type === "file") await fs.chmod(file, st.mode & 0o1777);
  await fs.lutimes(file, st.atime, st.mtime);
}

export function renderExtract(report: ExtractReport): string {
  return report.extracted
    .map((e) => `${e.filesystem}:${e.path} -> ${e.file} (${e.type})`)
    .join("\n");
}
