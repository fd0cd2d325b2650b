/** Helpers shared by the benchmarks: statistics, timing, tables, sizes. */
import path from "node:path";
import { parseArgs } from "node:util";
import { must } from "../test/lab/lab.js";

export const MiB = 1024 * 1024;
export const LIBVIRT_URI = "qemu:///system";

export interface Step {
  label: string;
  seconds: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 === 1
    ? (s[mid] as number)
    : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const min = (xs: number[]) => Math.min(...xs);
export const max = (xs: number[]) => Math.max(...xs);
export const mib = (bytes: number) => bytes / MiB;
export const f2 = (x: number) => x.toFixed(2);
export const f3 = (x: number) => x.toFixed(3);

export function stats(xs: number[]): { median: number; min: number; max: number } {
  return { median: median(xs), min: min(xs), max: max(xs) };
}

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const value = await fn();
  return [(performance.now() - t0) / 1000, value];
}

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => max(rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))),
    )
    .map((r) => `  ${r.join("  ")}`)
    .join("\n");
}

export async function duBytes(dir: string): Promise<number> {
  const out = await must("du", ["-sb", dir]);
  return Number(out.split("\t")[0]);
}

/** `virsh -c URI backup-begin ...` in a -v log line -> "virsh backup-begin". */
export function commandLabel(line: string): string {
  const words = line.slice(2).split(" ");
  const program = path.basename(words[0] ?? "?");
  for (let i = 1; i < words.length; i++) {
    if (words[i] === "-c") i++;
    else if (!words[i]?.startsWith("-")) return `${program} ${words[i]}`;
  }
  return program;
}

/** `--runs N` (and `-h`), shared by the benchmarks: N must lie within [min, max]. */
export function parseRuns(
  argv: string[],
  usage: string,
  limits: { default: number; min: number; max?: number },
): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: String(limits.default) },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const runs = Number(values.runs);
  const max = limits.max ?? Number.POSITIVE_INFINITY;
  if (!Number.isInteger(runs) || runs < limits.min || runs > max) {
    const range = limits.max ? `from ${limits.min} to ${limits.max}` : `>= ${limits.min}`;
    throw new Error(`--runs needs an integer ${range}`);
  }
  return runs;
}

/** Deletes every checkpoint of the domain (children first: their bitmaps merge into the parent). */
export async function dropCheckpoints(name: string): Promise<void> {
  const out = await must("virsh", [
    "-c",
    LIBVIRT_URI,
    "checkpoint-list",
    name,
    "--name",
    "--topological",
  ]);
  const names = out
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  for (const c of names.reverse())
    await must("virsh", ["-c", LIBVIRT_URI, "checkpoint-delete", name, c]);
}
