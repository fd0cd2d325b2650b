import fs from "node:fs/promises";
import os from "node:os";

/** Who holds a domain's lock: written into the lock file itself, so it exists as soon as the lock. */
export interface Holder {
  pid: number;
  /** /proc/sys/kernel/random/boot_id: a pid from before a reboot is nobody. */
  bootId: string;
  /** The process's start time in clock ticks since boot (/proc/PID/stat): a reused pid is nobody. */
  started?: string;
  host: string;
  command: string;
  since: string;
}

export async function thisProcess(command: string): Promise<Holder> {
  const started = await startTime(process.pid);
  return {
    pid: process.pid,
    bootId: await bootId(),
    ...(started ? { started } : {}),
    host: os.hostname(),
    command,
    since: new Date().toISOString(),
  };
}

/** The holder a lock file names, or undefined when it names none (not JSON, or not a file). */
export function parseHolder(text: string): Holder | undefined {
  try {
    const holder = JSON.parse(text) as Partial<Holder>;
    if (typeof holder.pid !== "number" || typeof holder.host !== "string") return undefined;
    return holder as Holder;
  } catch {
    return undefined;
  }
}

/**
 * Another host's holder cannot be checked from here: it counts as alive (the caller then judges by
 * the lock's heartbeat). Here, a holder is gone when its boot, pid or process start time is.
 */
export async function isAlive(holder: Holder): Promise<boolean> {
  if (holder.host !== os.hostname()) return true;
  if (holder.bootId !== (await bootId())) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  if (!holder.started) return true;
  const started = await startTime(holder.pid);
  return started === undefined || started === holder.started;
}

export function describeHolder(holder: Holder | undefined): string {
  if (!holder) return "another virtsnap run";
  return `pid ${holder.pid} on ${holder.host} (virtsnap ${holder.command}, since ${holder.since})`;
}

async function bootId(): Promise<string> {
  return (await fs.readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "")).trim();
}

/** Field 22 of /proc/PID/stat (proc(5)); the command name before it may hold spaces and ')'. */
async function startTime(pid: number): Promise<string | undefined> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19];
}
