import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import lockfile from "proper-lockfile";
import { LockedError, OperationError } from "./errors.js";
import type { Log } from "./log.js";

export interface Holder {
  pid: number;
  /** /proc/sys/kernel/random/boot_id: a pid from before a reboot is nobody. */
  bootId: string;
  host: string;
  command: string;
  since: string;
}

export type Release = () => Promise<void>;

/**
 * Locks live on the host, not in the backup folder: consolidate has no backup folder, and two backup
 * folders must not let two runs work on the same live chain. /run/virtsnap is root's and 0700.
 */
export function defaultLockDir(env: NodeJS.ProcessEnv): string {
  if (env.VIRTSNAP_LOCK_DIR) return env.VIRTSNAP_LOCK_DIR;
  if (process.getuid?.() === 0) return "/run/virtsnap";
  return path.join(env.XDG_RUNTIME_DIR ?? os.tmpdir(), `virtsnap-${process.getuid?.() ?? "user"}`);
}

function lockPath(lockDir: string, uri: string, domain: string): string {
  const key = createHash("sha256").update(`${uri}\0${domain}`).digest("hex").slice(0, 16);
  return path.join(lockDir, `domain-${key}`);
}

/** Where a command without a backup dir (consolidate) keeps its journal: beside the domain's lock. */
export function hostJournalFile(lockDir: string, uri: string, domain: string): string {
  return `${lockPath(lockDir, uri, domain)}.journal.json`;
}

/**
 * Takes the domain's lock at once or throws LockedError naming the holder (exit 75). A lock whose
 * recorded holder is gone (killed, or from before a reboot) is stale at once, not after 30 s.
 */
export async function lockDomain(
  lockDir: string,
  uri: string,
  domain: string,
  command: string,
  log: Log,
): Promise<Release> {
  await fs.mkdir(lockDir, { recursive: true, mode: 0o700 });
  // Anyone could plant a symlink where the lock's files go in a world-writable folder.
  if ((await fs.stat(lockDir)).mode & 0o002) {
    throw new OperationError(
      `lock dir ${lockDir} is world-writable; point VIRTSNAP_LOCK_DIR at a private folder`,
    );
  }
  const file = lockPath(lockDir, uri, domain);
  const holderFile = `${file}.holder.json`;
  const release = await acquire(file, domain, log).catch(async (error) => {
    if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
    const holder = await readHolder(holderFile);
    if (!holder || (await isAlive(holder))) {
      throw new LockedError(`domain '${domain}' is locked by ${describe(holder)}; try again later`);
    }
    log.warn(`domain '${domain}': taking over the lock of ${describe(holder)}, which is gone`);
    await fs.rm(`${file}.lock`, { recursive: true, force: true });
    return acquire(file, domain, log);
  });
  const holder: Holder = {
    pid: process.pid,
    bootId: await bootId(),
    host: os.hostname(),
    command,
    since: new Date().toISOString(),
  };
  await fs.rm(holderFile, { force: true });
  await fs.writeFile(holderFile, JSON.stringify(holder), { mode: 0o600, flag: "wx" });
  return async () => {
    await fs.rm(holderFile, { force: true });
    await release();
  };
}

function acquire(file: string, domain: string, log: Log): Promise<() => Promise<void>> {
  return lockfile.lock(file, {
    realpath: false,
    retries: 0,
    // A holder killed before it could record itself: its lock is stale once the mtime is 30 s old.
    stale: 30_000,
    update: 10_000,
    onCompromised: (error) => log.error(`lock for domain '${domain}' was lost: ${error.message}`),
  });
}

async function readHolder(holderFile: string): Promise<Holder | undefined> {
  try {
    return JSON.parse(await fs.readFile(holderFile, "utf8")) as Holder;
  } catch {
    return undefined;
  }
}

/** Another host's holder cannot be checked from here: it counts as alive. */
async function isAlive(holder: Holder): Promise<boolean> {
  if (holder.host !== os.hostname()) return true;
  if (holder.bootId !== (await bootId())) return false;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function bootId(): Promise<string> {
  return (await fs.readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "")).trim();
}

function describe(holder: Holder | undefined): string {
  if (!holder) return "another virtsnap run";
  return `pid ${holder.pid} on ${holder.host} (virtsnap ${holder.command}, since ${holder.since})`;
}
