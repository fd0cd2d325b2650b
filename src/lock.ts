import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import lockfile from "proper-lockfile";
import { LockedError } from "./errors.js";
import type { Log } from "./log.js";

export interface Holder {
  pid: number;
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

/** Takes the domain's lock at once or throws LockedError naming the holder (exit 75). */
export async function lockDomain(
  lockDir: string,
  uri: string,
  domain: string,
  command: string,
  log: Log,
): Promise<Release> {
  await fs.mkdir(lockDir, { recursive: true, mode: 0o700 });
  const file = lockPath(lockDir, uri, domain);
  const holderFile = `${file}.holder.json`;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(file, {
      realpath: false,
      retries: 0,
      // proper-lockfile refreshes the lock's mtime every `update` ms; older than `stale` = holder died.
      stale: 30_000,
      update: 10_000,
      onCompromised: (error) => log.error(`lock for domain '${domain}' was lost: ${error.message}`),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
    throw new LockedError(
      `domain '${domain}' is locked by ${await describeHolder(holderFile)}; try again later`,
    );
  }
  const holder: Holder = {
    pid: process.pid,
    host: os.hostname(),
    command,
    since: new Date().toISOString(),
  };
  await fs.writeFile(holderFile, JSON.stringify(holder), { mode: 0o600 });
  return async () => {
    await fs.rm(holderFile, { force: true });
    await release();
  };
}

async function describeHolder(holderFile: string): Promise<string> {
  try {
    const h = JSON.parse(await fs.readFile(holderFile, "utf8")) as Holder;
    return `pid ${h.pid} on ${h.host} (virtsnap ${h.command}, since ${h.since})`;
  } catch {
    return "another virtsnap run";
  }
}
