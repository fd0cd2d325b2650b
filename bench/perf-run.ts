/** bench/perf's runners: virtsnap (timed, its commands counted, peak RSS), the peers, the references. */
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { type LabDomain, must, sh } from "../test/lab/lab.js";
import { commandLabel, timed } from "./common.js";

const BIN = fileURLToPath(new URL("../../bin/virtsnap.js", import.meta.url));

export interface VirtsnapRun {
  seconds: number;
  /** Programs virtsnap started (its -v log's `$`/`!` lines), by name. */
  commands: Map<string, number>;
  /** Peak resident set of the process tree /usr/bin/time waited for, in MiB. */
  rssMiB: number;
  stdout: string;
  /** Its -v log (stderr), each line stamped with the time. */
  log: string;
}

/** `virtsnap -v ARGS` under /usr/bin/time -v; a failure stops the benchmark. */
export async function virtsnapRun(args: string[], bin = BIN): Promise<VirtsnapRun> {
  const [seconds, r] = await timed(() =>
    execa("/usr/bin/time", ["-v", process.execPath, bin, "-v", ...args], {
      reject: false,
      stdin: "ignore",
    }),
  );
  if (r.exitCode !== 0)
    throw new Error(`virtsnap ${args.join(" ")} failed (${r.exitCode}):\n${r.stderr.slice(-3000)}`);
  const commands = new Map<string, number>();
  for (const line of r.stderr.split("\n")) {
    const m = /^\S+ (?:debug: )?([!$] .*)$/.exec(line);
    if (!m?.[1]) continue;
    const label = commandLabel(m[1]);
    commands.set(label, (commands.get(label) ?? 0) + 1);
  }
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1];
  return { seconds, commands, rssMiB: Number(rss ?? 0) / 1024, stdout: r.stdout, log: r.stderr };
}

export function processCount(run: VirtsnapRun): number {
  return [...run.commands.values()].reduce((a, b) => a + b, 0);
}

/** A command of a peer or a reference, timed; `syncDir` is flushed within the time. */
export async function timedTool(file: string, args: string[], syncDir?: string): Promise<number> {
  const [seconds] = await timed(async () => {
    const r = await sh(file, args);
    if (r.exitCode !== 0)
      throw new Error(`${file} ${args.join(" ")} failed (${r.exitCode}): ${r.stderr.slice(-2000)}`);
    if (syncDir) await must("sync", ["-f", syncDir]);
  });
  return seconds;
}

/**
 * Before every timed step: flush, then read the image once, so every step starts with the same
 * warm cache (bench/snapshot.ts's settle, for the same reason: the balloon's free-page reporting).
 */
export async function settle(image: string, scratch: string): Promise<void> {
  await must("sync", ["-f", scratch]);
  await must("sh", ["-c", `cat '${image.replaceAll("'", "'\\''")}' > /dev/null`]);
}

/** `size` MiB of data: 64 MiB chunks with 64 MiB holes between, distinct patterns. */
export async function fill(vm: LabDomain, target: string, sizeMiB: number): Promise<void> {
  const chunks = Math.max(1, Math.round(sizeMiB / 64));
  for (let i = 0; i < chunks; i++) await vm.write(target, 0x10 + (i % 0xe0), i * 128, 64);
}

/** Every regular file below `dir`. */
export async function filesUnder(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir, { recursive: true });
  const files: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    if ((await fs.stat(file)).isFile()) files.push(file);
  }
  return files;
}

/**
 * Evicts these files from the page cache (dd iflag=nocache: POSIX_FADV_DONTNEED on each), so the
 * next read of them is a read of the disk. Only these: node, qemu-img and cat stay cached, as on a
 * host that runs them every night, and a comparison of read rates does not time program loading.
 */
export async function evict(files: string[]): Promise<void> {
  await must("sync", []);
  for (const file of files)
    await must("dd", [`if=${file}`, "iflag=nocache", "count=0", "status=none"]);
}

/** Seconds a snapshot-mode full spent writing its copy, and then reading it back. */
export interface FullPhases {
  write: number;
  readBack: number;
}

/**
 * A snapshot-mode full's two long phases, from its -v log: qemu-img convert writing the copy, then
 * qemu-img check and the block digest reading it back (up to "point ... saved").
 */
export function fullPhases(run: VirtsnapRun): FullPhases | undefined {
  const lines = run.log.split("\n");
  const at = (pattern: RegExp) => {
    const line = lines.find((l) => pattern.test(l));
    return line ? Date.parse(line.split(" ")[0] ?? "") / 1000 : Number.NaN;
  };
  const convert = at(/ ! qemu-img convert /);
  const check = at(/ \$ qemu-img check /);
  const saved = at(/ point \S+ \(full\) saved$/);
  if (![convert, check, saved].every(Number.isFinite)) return undefined;
  return { write: check - convert, readBack: saved - check };
}

/** `cat FILES > /dev/null`, timed. */
export async function catSeconds(files: string[]): Promise<number> {
  const quoted = files.map((f) => `'${f.replaceAll("'", "'\\''")}'`).join(" ");
  const [seconds] = await timed(() => must("sh", ["-c", `cat ${quoted} > /dev/null`]));
  return seconds;
}

export async function requireTools(): Promise<void> {
  for (const tool of ["virtnbdbackup", "virtnbdrestore", "/usr/bin/time"]) {
    const r = await sh("sh", ["-c", `command -v ${tool}`]);
    if (r.exitCode !== 0)
      throw new Error(
        `bench/perf needs ${tool}: apt-get install -y --no-install-recommends virtnbdbackup time`,
      );
  }
}
