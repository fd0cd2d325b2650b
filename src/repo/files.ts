import { createHash } from "node:crypto";
import { createReadStream, constants as fsConstants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { describeIoError } from "../errors.js";
import type { Log } from "../log.js";
import { PARTIAL } from "./paths.js";

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

export async function makeDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
}

/**
 * Creates `dir` (0700) and proves it writable. The check runs on the nearest existing ancestor
 * first, because a recursive mkdir on a read-only filesystem reports ENOENT instead of EROFS.
 */
export async function makeWritableDir(dir: string): Promise<void> {
  let existing = dir;
  while (!(await exists(existing)) && path.dirname(existing) !== existing)
    existing = path.dirname(existing);
  await fs.access(existing, fs.constants.W_OK);
  await makeDir(dir);
  await fs.access(dir, fs.constants.W_OK);
}

/** Flush a file and then its folder, so a rename that follows survives a power cut. */
export async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.open(file, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Whether `file` (not there yet; made and removed again) can be written with O_DIRECT: EINVAL
 * where the file system has none, which `log` hears of. Any other failure is qemu-img's to report,
 * in its own words.
 */
export async function takesDirectIo(file: string, log: Pick<Log, "debug">): Promise<boolean> {
  const { O_WRONLY, O_CREAT, O_EXCL, O_DIRECT } = fsConstants;
  if (O_DIRECT === undefined) return false;
  const flags = O_WRONLY | O_CREAT | O_EXCL | O_DIRECT;
  const handle = await fs.open(file, flags, 0o600).catch(() => undefined);
  // An open refused for O_DIRECT may have made the file all the same (ramfs does).
  await handle?.close();
  await fs.rm(file, { force: true });
  if (!handle) log.debug(`${path.dirname(file)} has no O_DIRECT: writing through the cache`);
  return handle !== undefined;
}

/** What the kernel lets lie dirty in the page cache before it starts writing in the background. */
export interface WritebackLimits {
  /** /proc/sys/vm/dirty_background_bytes; 0 when the ratio rules. */
  backgroundBytes: number;
  /** /proc/sys/vm/dirty_background_ratio, percent of the memory available. */
  backgroundRatio: number;
  /** MemAvailable of /proc/meminfo, in bytes. */
  memAvailable: number;
}

/**
 * The most a full copy leaves in the page cache, however much memory the host has: on a host with
 * hundreds of GiB free the threshold alone would let one backup push tens of GiB of other cached
 * files out.
 */
export const CACHED_COPY_MAX = 4 * 1024 ** 3;

/**
 * Bytes a copy may leave dirty before the kernel starts writing them back on its own, at most
 * CACHED_COPY_MAX.
 */
export function writebackRoom(limits: WritebackLimits): number {
  const threshold =
    limits.backgroundBytes > 0
      ? limits.backgroundBytes
      : Math.floor((limits.backgroundRatio / 100) * limits.memAvailable);
  return Math.min(threshold, CACHED_COPY_MAX);
}

async function readWritebackLimits(): Promise<WritebackLimits> {
  const sysctl = (name: string) =>
    fs.readFile(`/proc/sys/vm/${name}`, "utf8").then(
      (text) => Number(text.trim()) || 0,
      () => 0,
    );
  const meminfo = await fs.readFile("/proc/meminfo", "utf8").catch(() => "");
  const availableKiB = Number(/^MemAvailable:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? 0);
  return {
    backgroundBytes: await sysctl("dirty_background_bytes"),
    backgroundRatio: await sysctl("dirty_background_ratio"),
    memAvailable: availableKiB * 1024,
  };
}

/**
 * Whether a full copy of about `bytes` is written past the page cache (O_DIRECT). One that fits
 * below the kernel's background writeback threshold goes through the cache: qemu-img writes it at
 * memory speed, and the block digest reads it back from memory while the fsync writes it out
 * (1 GiB on the test machine: 0.9 s against 1.5 s with O_DIRECT). A bigger one would be throttled
 * once that much is dirty (8 GiB written in order: 23 s against 13 s) and would push other cached
 * files out.
 */
export async function writesPastTheCache(
  file: string,
  bytes: number,
  log: Pick<Log, "debug">,
): Promise<boolean> {
  const room = writebackRoom(await readWritebackLimits());
  if (bytes <= room) {
    log.debug(`${bytes} bytes fit below the kernel's writeback threshold (${room}): page cache`);
    return false;
  }
  return takesDirectIo(file, log);
}

export async function fsyncDir(dir: string): Promise<void> {
  await fsyncFile(dir);
}

/** `<file>.partial` is fsynced, made 0600 and renamed to `<file>`: a reader never sees half a file. */
export async function commitPartial(file: string, mode = FILE_MODE): Promise<void> {
  const partial = file + PARTIAL;
  await fs.chmod(partial, mode);
  await fsyncFile(partial);
  await fs.rename(partial, file);
  await fsyncDir(path.dirname(file));
}

export async function writeFileAtomic(file: string, data: string, mode = FILE_MODE): Promise<void> {
  await fs.writeFile(file + PARTIAL, data, { mode });
  await commitPartial(file, mode);
}

/** The file's sha256, read while it is flushed (the hash reads the same bytes the flush writes). */
export async function flushAndHash(file: string): Promise<string> {
  const [sha256] = await Promise.all([sha256File(file), fsyncFile(file)]);
  return sha256;
}

/** `<file>.partial` hashed, flushed and committed (0600, renamed): its checksum and size. */
export async function commitHashed(file: string): Promise<{ sha256: string; bytes: number }> {
  const sha256 = await flushAndHash(file + PARTIAL);
  await commitPartial(file);
  return { sha256, bytes: (await fs.stat(file)).size };
}

export async function sha256File(
  file: string,
  onBytes: (bytes: number) => void = () => {},
): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    onBytes((chunk as Buffer).length);
  }
  return hash.digest("hex");
}

export async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/** Creates the chain's folder and proves it writable, before anything touches the domain. */
export async function prepareChainDir(domainDir: string, chain: string): Promise<string> {
  const dir = path.join(domainDir, chain);
  try {
    await makeWritableDir(dir);
  } catch (error) {
    throw describeIoError(error, `cannot write backups into ${dir}`);
  }
  return dir;
}

/**
 * Undoes a point that never reached the catalog: every file of the chain folder named after it
 * (disks, XML, memory, boot files, partials), then the folder itself if that leaves it empty.
 */
export async function removePointFiles(
  domainDir: string,
  chain: string,
  pointId: string,
): Promise<void> {
  const dir = path.join(domainDir, chain);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (name.includes(`.${pointId}.`)) await fs.rm(path.join(dir, name), { force: true });
  }
  await fs.rmdir(dir).catch(() => {});
}
