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
      if (!["directory", "file", "symlink"].includes(typeOf(stat.mode)))
        throw new UsageError(
          `${spec.path} is a ${typeOf(stat.mode)}; extract copies files, directories and symlinks`,
        );
      found.push({
        fs: filesystem.device,
        path: spec.path,
        stat,
        file: path.join(to, names[i] as string),
      });
    }
    await fs.mkdir(to, { recursive: true }).catch((error) => {
      throw describeIoError(error, `cannot write into ${to}`);
    });
    const extracted: ExtractReport["extracted"] = [];
    for (const f of found) {
      await session.mount({ device: f.fs, type: "" });
      const type = typeOf(f.stat.mode);
      ctx.log.debug(`${f.fs}:${f.path} -> ${f.file}`);
      await copyOut(session, f.path, type, f.stat, f.file);
      extracted.push({ path: f.path, filesystem: f.fs, type, file: f.file });
    }
    return { domain: options.domain, point: point.id, to, extracted };
  });
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
  // After chown, which clears set-uid bits.
  if (type === "file") await fs.chmod(file, st.mode & 0o7777);
  await fs.lutimes(file, st.atime, st.mtime);
}

export function renderExtract(report: ExtractReport): string {
  return report.extracted
    .map((e) => `${e.filesystem}:${e.path} -> ${e.file} (${e.type})`)
    .join("\n");
}
