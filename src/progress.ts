import type { Context, Progress } from "./context.js";
import type { Cmd } from "./exec.js";

export const NO_PROGRESS: Progress = { enabled: false, update: () => {}, clear: () => {} };

/** qemu-img -p prints "    (45.00/100%)\r": the last such figure in a chunk of its output. */
export function qemuImgFraction(chunk: string): number | undefined {
  const all = [...chunk.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
  const last = all.at(-1)?.[1];
  return last === undefined ? undefined : Number(last) / 100;
}

/** `virsh blockjob --info --raw`: " type=Active Block Commit,bandwidth=0,cur=123,end=456". */
export function blockJobFraction(raw: string): number | undefined {
  const cur = /cur=(\d+)/.exec(raw)?.[1];
  const end = /end=(\d+)/.exec(raw)?.[1];
  if (cur === undefined || end === undefined || Number(end) === 0) return undefined;
  return Number(cur) / Number(end);
}

/** Runs a qemu-img convert with -p when a bar is shown, feeding its figures to the bar. */
export async function convertShowingProgress(ctx: Context, cmd: Cmd, label: string): Promise<void> {
  if (!ctx.progress.enabled) {
    await ctx.run(cmd, { signal: ctx.signal });
    return;
  }
  const [subcommand, ...rest] = cmd.args;
  const withBar = { ...cmd, args: [subcommand ?? "", "-p", ...rest] };
  const onOutput = (text: string) => {
    const fraction = qemuImgFraction(text);
    if (fraction !== undefined) ctx.progress.update(label, fraction);
  };
  try {
    await ctx.run(withBar, { signal: ctx.signal, onOutput });
  } finally {
    ctx.progress.clear();
  }
}

/** 1536 -> "1.5 KiB": the sizes of a progress line. */
export function humanBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** The line of a phase measured in bytes: done of total, the rate so far, the time left. */
export function byteLine(label: string, done: number, total: number, seconds: number): string {
  const rate = seconds > 0 ? done / seconds : 0;
  const eta = rate > 0 ? ` ETA ${Math.ceil(Math.max(0, total - done) / rate)}s` : "";
  return `${label} ${humanBytes(done)}/${humanBytes(total)} ${humanBytes(rate)}/s${eta}`;
}

/**
 * Feeds a bar with bytes as they are done. `remaining` is read at each step, for work whose total
 * grows while it runs (files queued behind the one being hashed).
 */
export function byteMeter(
  progress: Progress,
  label: string,
  remaining: () => number,
  now: () => number = Date.now,
): (bytes: number) => void {
  const started = now();
  let done = 0;
  return (bytes) => {
    done += bytes;
    const total = done + remaining();
    const line = byteLine(label, done, total, (now() - started) / 1000);
    progress.update(line, total > 0 ? done / total : 1);
  };
}
