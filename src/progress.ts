import type { Context } from "./context.js";
import type { Cmd } from "./exec.js";

/**
 * One progress bar on stderr, only on a terminal: cron mail and pipes get none. Log lines clear it
 * first (see cli.ts), so a bar never garbles a message.
 */
export interface Progress {
  readonly enabled: boolean;
  /** `fraction` of the work called `label` is done (0..1). */
  update(label: string, fraction: number): void;
  /** Removes the bar (the work is over, or a log line is about to be written). */
  clear(): void;
}

export const NO_PROGRESS: Progress = { enabled: false, update: () => {}, clear: () => {} };

const WIDTH = 30;

export function terminalProgress(write: (text: string) => void): Progress {
  let shown = "";
  return {
    enabled: true,
    update(label, fraction) {
      const f = Math.min(1, Math.max(0, fraction));
      const filled = Math.round(f * WIDTH);
      const bar = `${"█".repeat(filled)}${"░".repeat(WIDTH - filled)}`;
      const line = `${bar} ${(f * 100).toFixed(0).padStart(3)}% ${label}`;
      if (line === shown) return;
      write(`\r\x1b[2K${line}`);
      shown = line;
    },
    clear() {
      if (shown === "") return;
      write("\r\x1b[2K");
      shown = "";
    },
  };
}

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
