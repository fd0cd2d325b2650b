import { createHash, randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "./context.js";
import { LockedError, OperationError } from "./errors.js";
import { describeHolder, type Holder, isAlive, parseHolder, thisProcess } from "./lock-holder.js";
import type { Log } from "./log.js";
import { failpoint } from "./steps.js";

export type { Holder } from "./lock-holder.js";
export type Release = () => Promise<void>;
export type LockContext = Pick<Context, "lockDir" | "uri" | "log" | "env">;

/** A lock that names no holder we can check (another host's, or an older virtsnap's lock folder). */
const STALE_MS = 30_000;
/** The holder touches its lock this often, so that such a lock shows it is still in use. */
const HEARTBEAT_MS = 10_000;

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
 * Takes the domain's lock at once or throws LockedError naming the holder (exit 75). The lock is a
 * file that holds its holder from the instant it exists (written aside, then hard-linked into
 * place, which fails if a lock is there): so there is no moment at which a killed run leaves a lock
 * without a holder, and a lock whose holder is gone (killed, or from before a reboot) is taken over
 * at once. `VIRTSNAP_FAILPOINT=lock.taken` kills the process right after it took the lock.
 */
export async function lockDomain(
  ctx: LockContext,
  domain: string,
  command: string,
): Promise<Release> {
  const { log } = ctx;
  await checkLockDir(ctx.lockDir);
  const base = lockPath(ctx.lockDir, ctx.uri, domain);
  const file = `${base}.lock`;
  const holder = await thisProcess(command);
  let ours: Stats | undefined;
  // Three tries: each lost race against another run's take-over means looking again.
  for (let attempt = 0; attempt < 3 && !ours; attempt++) {
    ours = await tryLink(file, holder);
    if (!ours) await judgeExisting(file, domain, log);
  }
  if (!ours) throw new LockedError(`domain '${domain}' is locked by another virtsnap run`);
  failpoint("lock.taken", ctx.env);
  // Earlier builds (proper-lockfile) kept the holder in a file of its own; one left by a killed run is stale.
  await fs.rm(`${base}.holder.json`, { force: true });
  const heartbeat = setInterval(() => {
    const now = new Date();
    fs.utimes(file, now, now).catch(() => {});
  }, HEARTBEAT_MS).unref();
  const inode = ours.ino;
  return async () => {
    clearInterval(heartbeat);
    // Never remove a lock that is no longer ours (taken over while this run looked dead).
    const now = await fs.lstat(file).catch(() => undefined);
    if (now?.ino === inode) await fs.rm(file, { force: true });
  };
}

async function checkLockDir(lockDir: string): Promise<void> {
  await fs.mkdir(lockDir, { recursive: true, mode: 0o700 });
  const why = lockDirFlaw(await fs.stat(lockDir), process.getuid?.());
  if (why) {
    throw new OperationError(
      `lock dir ${lockDir} ${why}; point VIRTSNAP_LOCK_DIR at a private folder`,
    );
  }
}

/**
 * Whoever else can write the lock folder could plant a symlink where the lock's files go, or hold
 * every lock: a /tmp/virtsnap-UID made in advance by another user is refused, not trusted.
 */
export function lockDirFlaw(st: Pick<Stats, "mode" | "uid">, uid: number | undefined): string {
  if (st.mode & 0o002) return "is world-writable";
  if (uid !== undefined && st.uid !== uid) return `belongs to uid ${st.uid}, not to you (${uid})`;
  if (st.mode & 0o020) return "is group-writable";
  return "";
}

/** link(2) is atomic and never replaces: the lock appears complete, holder included, or not at all. */
async function tryLink(file: string, holder: Holder): Promise<Stats | undefined> {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.new`;
  await fs.writeFile(aside, `${JSON.stringify(holder)}\n`, { mode: 0o600, flag: "wx" });
  try {
    await fs.link(aside, file);
    return await fs.lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return undefined;
    throw error;
  } finally {
    await fs.rm(aside, { force: true });
  }
}

/** Throws LockedError if the lock there is in use; removes it if its holder is gone. */
async function judgeExisting(file: string, domain: string, log: Log): Promise<void> {
  const stats = await fs.lstat(file).catch(() => undefined);
  if (!stats) return; // released meanwhile: try again
  const holder = stats.isFile()
    ? parseHolder(await fs.readFile(file, "utf8").catch(() => ""))
    : undefined;
  const heartbeatAge = Date.now() - stats.mtimeMs;
  const alive = holder ? await isAlive(holder) : true;
  // A holder we cannot check (another host's, none recorded) is judged by its lock's heartbeat.
  const unchecked = !holder || holder.host !== os.hostname();
  if (alive && !(unchecked && heartbeatAge > STALE_MS)) {
    throw new LockedError(
      `domain '${domain}' is locked by ${describeHolder(holder)}; try again later`,
    );
  }
  log.warn(`domain '${domain}': taking over the lock of ${describeHolder(holder)}, which is gone`);
  await removeStale(file, stats);
}

/**
 * Moves the stale lock aside and deletes it. If another run took it over first and made a lock of
 * its own in the meantime, that lock is what got moved: it is put back, and this run looks again.
 */
async function removeStale(file: string, stale: Stats): Promise<void> {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.stale`;
  try {
    await fs.rename(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  const moved = await fs.lstat(aside);
  if (moved.ino !== stale.ino) await fs.link(aside, file).catch(() => {});
  await fs.rm(aside, { recursive: true, force: true });
}
