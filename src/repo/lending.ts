// restore --instant lends repository files to QEMU for reading, and gets them back once no domain
// reads them. Why a loan and not libvirt's relabelling: libvirt chowns a disk's whole backing chain
// to QEMU's user when the domain starts, but restores only the top image's owner when it stops (a
// backing file may be shared), so the repository would stay owned, and writable, by QEMU's user.
import fs from "node:fs/promises";
import path from "node:path";
import { readChain } from "../chain/live-chain.js";
import type { Context } from "../context.js";
import { OperationError } from "../errors.js";
import { parseDomainXml } from "../libvirt/domain-xml.js";
import type { Catalog, PointDisk, RestorePoint } from "../types.js";
import { writeFileAtomic } from "./files.js";
import { layersOf } from "./integrity.js";

/** What each lent file's owner, group and mode were, by path relative to the domain's folder. */
export const LENT_FILE = "lent-to-qemu.json";

interface Lent {
  files: Record<string, { uid: number; gid: number; mode: number }>;
}

async function readLent(repoDir: string): Promise<Lent | undefined> {
  const file = path.join(repoDir, LENT_FILE);
  const text = await fs.readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as Lent;
  } catch {
    throw new OperationError(`${file} is not valid JSON: it records files lent to QEMU`);
  }
}

/**
 * Gives QEMU's group read access to `files` and search access to `dirs` (both relative to
 * `repoDir`; "." is the folder itself), and nothing more: QEMU can read them, never write them
 * (owner root, group r-- or --x). Each one's owner, group and mode are recorded first, so a run
 * killed half-way still hands everything back.
 */
export async function lendToQemu(
  repoDir: string,
  qemu: { uid: number; gid: number },
  dirs: string[],
  files: string[],
): Promise<void> {
  const lent = (await readLent(repoDir)) ?? { files: {} };
  const all = [
    ...dirs.map((d) => ({ rel: d, bits: 0o010 })),
    ...files.map((f) => ({ rel: f, bits: 0o040 })),
  ];
  for (const { rel } of all) {
    if (lent.files[rel]) continue;
    const stat = await fs.stat(path.join(repoDir, rel));
    // A file QEMU's user owns already (left so by libvirt before) goes back to our user, not to it.
    const uid = stat.uid === qemu.uid ? (process.getuid?.() ?? 0) : stat.uid;
    lent.files[rel] = { uid, gid: stat.gid, mode: stat.mode & 0o7777 };
  }
  await writeFileAtomic(path.join(repoDir, LENT_FILE), `${JSON.stringify(lent, null, 2)}\n`);
  for (const { rel, bits } of all) {
    const file = path.join(repoDir, rel);
    const was = lent.files[rel];
    if (!was) continue;
    await fs.chown(file, was.uid, qemu.gid);
    // Group bits replaced, not added to: the group is QEMU's now.
    await fs.chmod(file, (was.mode & 0o7707) | bits);
  }
}

/** The repository layers under the instant domain's overlays: readable, never writable, by QEMU. */
export async function lendLayers(
  ctx: Context,
  dir: string,
  catalog: Catalog,
  point: RestorePoint,
  disks: PointDisk[],
  qemu: { uid: number; gid: number } | undefined,
): Promise<void> {
  if (!qemu || qemu.uid === 0) return;
  const files = disks.flatMap((d) => layersOf(catalog, point, d).map((l) => l.disk.file));
  const dirs = [".", ...new Set(files.map((f) => path.dirname(f)))];
  await lendToQemu(dir, qemu, dirs, files);
  ctx.log.info(
    `QEMU may read ${files.length} repository file(s) until no domain reads from ${dir}`,
  );
}

/**
 * Hands lent files back (owner, group, mode as they were) once no domain of the host reads from
 * the repository: the instant domain was undefined or its disks pulled free. Runs in restore,
 * prune and repair (refuseIfReadByDomains hands back after its own check); a loan with a domain
 * still reading stays.
 */
export async function handBackIfUnread(ctx: Context, repoDir: string): Promise<void> {
  if (!(await readLent(repoDir))) return;
  const reader = await firstReader(ctx, repoDir);
  if (reader) ctx.log.debug(`repository files stay readable by QEMU: '${reader.name}' reads them`);
  else await handBack(ctx, repoDir);
}

/** For a caller that has just found that no domain reads the repository. */
export async function handBack(ctx: Context, repoDir: string): Promise<void> {
  const lent = await readLent(repoDir);
  if (!lent) return;
  for (const [rel, was] of Object.entries(lent.files)) {
    const file = path.join(repoDir, rel);
    try {
      await fs.chown(file, was.uid, was.gid);
      await fs.chmod(file, was.mode);
    } catch (error) {
      // A file pruned or rotated away since has nothing to give back.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  await fs.rm(path.join(repoDir, LENT_FILE), { force: true });
  ctx.log.info(`no domain reads ${repoDir} any more: QEMU's read access to it is withdrawn`);
}

/**
 * The first domain of this host (defined, running or not) with a disk whose backing chain reads
 * from the repository, as an --instant domain does until its disks are pulled free. Found from the
 * live chains rather than a record of instant restores, so a domain pulled free or removed no
 * longer counts.
 */
export async function firstReader(
  ctx: Context,
  repoDir: string,
): Promise<{ name: string; target: string } | undefined> {
  const inside = (file: string) => path.resolve(file).startsWith(repoDir + path.sep);
  const { stdout } = await ctx.run(ctx.virsh.listNames(false));
  const names = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  for (const name of names) {
    // A domain undefined meanwhile has nothing left to read.
    const xml = await ctx.run(ctx.virsh.dumpXml(name)).catch(() => undefined);
    if (!xml) continue;
    for (const disk of (await parseDomainXml(xml.stdout)).disks) {
      if (disk.type !== "file" || !disk.source) continue;
      // An unreadable chain (the image or its backing file is gone) leaves only the source to judge.
      const source = disk.source;
      const files = await readChain(ctx.run, disk).then(
        (chain) => chain.layers.map((l) => l.file),
        () => [source],
      );
      if (files.some(inside)) return { name, target: disk.target };
    }
  }
  return undefined;
}
