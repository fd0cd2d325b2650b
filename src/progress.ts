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
