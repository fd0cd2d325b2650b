/**
 * CBT-mode benchmark (bench/cbt): virtsnap vs virtnbdbackup/virtnbdrestore (Debian package
 * virtnbdbackup), in the same run, on throwaway TCG domains with a 2 GiB qcow2 disk holding
 * 512 MiB of data. Each of --runs N (default 3), in fresh folders:
 *  - full backup, then a 64 MiB change (a different chunk each run, a new pattern), then inc,
 *  - restore of the latest point (full + inc) into a standalone image,
 *  - repository size (`du -sb`) after the full and after the inc,
 *  - correctness: both restores are `qemu-img compare`d with the expected image (the same writes
 *    replayed offline, lab.ts) and with each other.
 * Wall time is performance.now() around each process; `sync -f` is run (untimed) before every timed
 * step, and timed right after it as an extra figure (virtsnap fsyncs its files, virtnbdbackup and
 * virtnbdrestore do not). Medians of N; exit 0 even when a target is missed, 1 when anything fails.
 *
 * Two identical domains, not one: virtnbdbackup refuses any level but copy while the domain has a
 * checkpoint it did not create ("Foreign checkpoint found: [virtsnap-...]", checkForeign in
 * /usr/bin/virtnbdbackup, 1.9.15), and virtsnap always keeps its chain's checkpoint, so the two
 * cannot alternate on one domain without deleting each other's checkpoints between their full and
 * inc. virtsnap is not confused by virtnbdbackup's checkpoints (verified by hand: with
 * virtnbdbackup.0 present, virtsnap full + inc worked and left virtnbdbackup.0 alone). Both domains
 * get exactly the same writes, run side by side, and the tools alternate which goes first.
 *
 * The commands compared (the domains run; virtnbdbackup works in pull mode over its own NBD socket
 * in /var/tmp, needs no flags beyond these, and writes its logs into the output folder):
 *   virtsnap -v --json backup DOM -b REPO --mode cbt --level full|inc
 *   virtsnap -v --json restore DOM -b REPO --to OUT                      (latest point)
 *   virtnbdbackup -U qemu:///system -d DOM -l full|inc -o REPO -n
 *   virtnbdrestore -i REPO -o OUT -n -L LOGFILE                          (latest point)
 */
import { statfsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  IMAGES,
  identical,
  LabDomain,
  must,
  type Result,
  sh,
  tempDir,
  uniqueName,
  virtsnap,
} from "../test/lab/lab.js";
import {
  commandLabel,
  dropCheckpoints,
  duBytes,
  f2,
  f3,
  MiB,
  median,
  mib,
  parseRuns,
  type Step,
  stats,
  table,
  timed,
} from "./common.js";

const DISK_MIB = 2048;
const CHUNKS = 8;
const CHUNK_MIB = 64;
const INC_MIB = 64;
const URI = "qemu:///system";
const MAX_RUNS = 20;
const TARGETS = { timeRatio: 0.67, repoRatio: 1 };

type Tool = "virtsnap" | "virtnbdbackup";
type Op = "full" | "inc" | "restore";
const TOOLS: Tool[] = ["virtsnap", "virtnbdbackup"];
const OPS: Op[] = ["full", "inc", "restore"];
const LABEL: Record<Tool, Record<Op, string>> = {
  virtsnap: { full: "virtsnap", inc: "virtsnap", restore: "virtsnap restore" },
  virtnbdbackup: { full: "virtnbdbackup", inc: "virtnbdbackup", restore: "virtnbdrestore" },
};

interface Options {
  runs: number;
}

/** One step of a virtsnap run, from its -v log: the time until the next logged line. */
interface Timed {
  /** The process alone. */
  seconds: number;
  /** `sync -f` of the output folder right after the process (what it left unflushed). */
  syncSeconds: number;
  steps: Step[];
}

interface ToolRun {
  full: Timed;
  inc: Timed;
  restore: Timed;
  repoAfterFull: number;
  repoAfterInc: number;
  /** Bytes of the disk data files only (qcow2 files / *.data streams), after the inc. */
  dataFiles: number;
  restoredBytes: number;
}

type Run = Record<Tool, ToolRun>;

let interrupted = false;

function parseOptions(argv: string[]): Options {
  const usage = `usage: bench/cbt [--runs N]   (3 <= N <= ${MAX_RUNS}, default 3; root, libvirtd running, virtnbdbackup installed)`;
  return { runs: parseRuns(argv, usage, { default: 3, min: 3, max: MAX_RUNS }) };
}

// ---- small helpers -------------------------------------------------------------------------

function checkInterrupted(): void {
  if (interrupted) throw new Error("interrupted");
}

async function filesBytes(dir: string, pattern: RegExp): Promise<number> {
  const entries = await fs.readdir(dir, { recursive: true });
  let sum = 0;
  for (const e of entries.filter((x) => pattern.test(x)))
    sum += (await fs.stat(path.join(dir, e))).size;
  return sum;
}

/** Other work on the machine (a test suite, another benchmark) skews every figure: say so. */
function loadavg(): string {
  return `${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")} (1/5/15 min)`;
}

function tail(text: string, lines = 15): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

function failed(what: string, r: Result): Error {
  return new Error(`${what} failed (${r.exitCode}):\n${tail(`${r.stdout}\n${r.stderr}`)}`);
}

// ---- virtsnap's step breakdown (from its -v log) --------------------------------------------

/** `$ virsh -c URI backup-begin ...` -> `virsh backup-begin`. */

const RENAME: Record<string, string> = {
  "virsh domjobinfo": "backup job running (polled: virsh domjobinfo)",
  "qemu-img check": "qemu-img check + sha256 + fsync + rename",
  "qemu-img convert": "qemu-img convert (+ fsync, rename, XML)",
};

/**
 * virtsnap -v logs each command with a timestamp just before it runs (not on a TTY). The gap to the
 * next line is that command plus the JS work after it (sha256 and fsync follow `qemu-img check`).
 */
function stepsOf(stderr: string, startMs: number, endMs: number): Step[] {
  const events: { t: number; label: string }[] = [{ t: startMs, label: "node start + CLI setup" }];
  for (const line of stderr.split("\n")) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?:debug: )?(.*)$/.exec(line);
    if (!m) continue;
    const message = m[2] ?? "";
    let label = /^[!$] /.test(message) ? commandLabel(message) : "virtsnap own work";
    // Progress lines are logged while the job runs; `domjobinfo --completed` is no poll.
    if (message.startsWith("backup job: ")) label = "virsh domjobinfo";
    else if (label === "virsh domjobinfo" && message.includes(" --completed"))
      label += " --completed";
    events.push({ t: Date.parse(m[1] ?? ""), label: RENAME[label] ?? label });
  }
  events.push({ t: endMs, label: "" });
  const steps: Step[] = [];
  for (let i = 0; i + 1 < events.length; i++) {
    const e = events[i] as { t: number; label: string };
    const seconds = ((events[i + 1]?.t ?? e.t) - e.t) / 1000;
    const same = steps.find((s) => s.label === e.label);
    if (same) same.seconds += seconds;
    else steps.push({ label: e.label, seconds });
  }
  return steps;
}

// ---- running the tools ---------------------------------------------------------------------

/** Runs one tool step: flush (untimed), the process (timed), then `sync -f` of its output (timed). */
async function step(
  outDir: string,
  run: () => Promise<Result>,
  check: (r: Result) => Promise<void>,
): Promise<Timed & { result: Result }> {
  checkInterrupted();
  await must("sync", []);
  const startMs = Date.now();
  const [seconds, result] = await timed(run);
  const endMs = Date.now();
  const [syncSeconds] = await timed(() => must("sync", ["-f", outDir]));
  await check(result);
  return { seconds, syncSeconds, steps: stepsOf(result.stderr, startMs, endMs), result };
}

async function virtsnapBackup(name: string, repo: string, level: "full" | "inc"): Promise<Timed> {
  const args = ["-v", "--json", "backup", name, "-b", repo, "--mode", "cbt", "--level", level];
  return step(
    repo,
    () => virtsnap(args),
    async (r) => {
      if (r.exitCode !== 0) throw failed(`virtsnap ${args.join(" ")}`, r);
      const d = (
        JSON.parse(r.stdout) as { domains: { status: string; mode?: string; level?: string }[] }
      ).domains[0];
      if (d?.status !== "ok" || d.mode !== "cbt" || d.level !== level)
        throw new Error(`virtsnap backup --level ${level} made ${JSON.stringify(d)}`);
    },
  );
}

async function virtsnapRestore(name: string, repo: string, out: string): Promise<Timed> {
  const args = ["-v", "--json", "restore", name, "-b", repo, "--to", out];
  return step(
    out,
    () => virtsnap(args),
    async (r) => {
      if (r.exitCode !== 0) throw failed(`virtsnap ${args.join(" ")}`, r);
    },
  );
}

function nbdBackupArgs(name: string, repo: string, level: "full" | "inc"): string[] {
  return ["-U", URI, "-d", name, "-l", level, "-o", repo, "-n"];
}

async function nbdBackup(name: string, repo: string, level: "full" | "inc"): Promise<Timed> {
  const args = nbdBackupArgs(name, repo, level);
  return step(
    repo,
    () => sh("virtnbdbackup", args),
    async (r) => {
      if (r.exitCode !== 0) throw failed(`virtnbdbackup ${args.join(" ")}`, r);
      // Its checkpoints are virtnbdbackup.0 (full), .1 (first inc), ...
      const file = level === "full" ? "vda.full.data" : "vda.inc.virtnbdbackup.1.data";
      await fs.access(path.join(repo, file)).catch(() => {
        throw new Error(`virtnbdbackup -l ${level} wrote no ${file}:\n${tail(r.stderr)}`);
      });
    },
  );
}

function nbdRestoreArgs(repo: string, out: string, log: string): string[] {
  return ["-i", repo, "-o", out, "-n", "-L", log];
}

async function nbdRestore(repo: string, out: string, log: string): Promise<Timed> {
  const args = nbdRestoreArgs(repo, out, log);
  return step(
    out,
    async () => {
      await fs.mkdir(out);
      return sh("virtnbdrestore", args);
    },
    async (r) => {
      if (r.exitCode !== 0) throw failed(`virtnbdrestore ${args.join(" ")}`, r);
    },
  );
}

// ---- setup and clean-up --------------------------------------------------------------------

async function requireTools(): Promise<void> {
  for (const tool of ["virtnbdbackup", "virtnbdrestore"]) {
    const r = await sh("sh", ["-c", `command -v ${tool}`]);
    if (r.exitCode !== 0) {
      console.error(
        `bench/cbt compares against ${tool}, which is not installed: ` +
          "apt-get install -y --no-install-recommends virtnbdbackup",
      );
      process.exit(1);
    }
  }
}

async function describeHost(scratch: string): Promise<void> {
  const nbdVersion = (await sh("virtnbdbackup", ["-V"])).stdout.trim();
  const virsh = (await must("virsh", ["-c", URI, "version"]))
    .split("\n")
    .filter((l) => /library|hypervisor/i.test(l))
    .map((l) => l.trim())
    .join("; ");
  console.log(`virtnbdbackup ${nbdVersion}; ${virsh}; nproc ${(await must("nproc", [])).trim()}`);
  console.log(`load average before: ${loadavg()}`);
  console.log((await must("df", ["-P", "-T", IMAGES, scratch])).trimEnd());
  const [imgDev, scratchDev] = [(await fs.stat(IMAGES)).dev, (await fs.stat(scratch)).dev];
  console.log(
    imgDev === scratchDev
      ? `  images and backups on the same filesystem (dev ${imgDev})`
      : `  images and backups on different filesystems (dev ${imgDev} vs ${scratchDev})`,
  );
  const free = statfsSync(scratch);
  if (free.bavail * free.bsize < 4 * 1024 * MiB)
    throw new Error(`less than 4 GiB free in ${scratch}`);
}

/** The same 512 MiB on both domains: 8 x 64 MiB, distinct patterns, 64 MiB holes between. */
async function fillDisks(vms: LabDomain[]): Promise<number> {
  const [seconds] = await timed(async () => {
    for (let i = 0; i < CHUNKS; i++) {
      checkInterrupted();
      for (const vm of vms) await vm.write("vda", 0x10 + i, i * 2 * CHUNK_MIB, CHUNK_MIB);
    }
  });
  return seconds;
}

// ---- one run -------------------------------------------------------------------------------

async function oneRun(vms: Record<Tool, LabDomain>, scratch: string, i: number): Promise<Run> {
  const dir = path.join(scratch, `run-${i}`);
  await fs.mkdir(dir, { mode: 0o711 });
  const repo = { virtsnap: path.join(dir, "vs-repo"), virtnbdbackup: path.join(dir, "nbd-repo") };
  const out = { virtsnap: path.join(dir, "vs-out"), virtnbdbackup: path.join(dir, "nbd-out") };
  const log = path.join(dir, "virtnbdrestore.log");
  // Every run starts a new chain on a domain without checkpoints: each full is a first full.
  for (const tool of TOOLS) await dropCheckpoints(vms[tool].name);
  const order: Tool[] = i % 2 === 1 ? TOOLS : [...TOOLS].reverse();
  const partial: Record<Tool, Partial<ToolRun>> = { virtsnap: {}, virtnbdbackup: {} };

  const backup = (tool: Tool, level: "full" | "inc") =>
    tool === "virtsnap"
      ? virtsnapBackup(vms.virtsnap.name, repo.virtsnap, level)
      : nbdBackup(vms.virtnbdbackup.name, repo.virtnbdbackup, level);

  for (const tool of order) {
    partial[tool].full = await backup(tool, "full");
    partial[tool].repoAfterFull = await duBytes(repo[tool]);
  }
  // A different chunk of the written data each run, with a pattern never written before.
  const offset = ((i - 1) % CHUNKS) * 2 * CHUNK_MIB;
  for (const tool of TOOLS) await vms[tool].write("vda", 0xa0 + i, offset, INC_MIB);
  for (const tool of order) {
    partial[tool].inc = await backup(tool, "inc");
    partial[tool].repoAfterInc = await duBytes(repo[tool]);
  }
  for (const tool of order) {
    partial[tool].restore =
      tool === "virtsnap"
        ? await virtsnapRestore(vms.virtsnap.name, repo.virtsnap, out.virtsnap)
        : await nbdRestore(repo.virtnbdbackup, out.virtnbdbackup, log);
  }
  partial.virtsnap.dataFiles = await filesBytes(repo.virtsnap, /\.qcow2$/);
  partial.virtnbdbackup.dataFiles = await filesBytes(repo.virtnbdbackup, /\.data$/);

  // Both restores must hold exactly what each guest wrote, and so be identical to each other.
  const restored = { virtsnap: "", virtnbdbackup: "" };
  for (const tool of TOOLS) {
    restored[tool] = path.join(out[tool], "vda.qcow2");
    partial[tool].restoredBytes = (await fs.stat(restored[tool])).size;
    const expected = await vms[tool].expectedImage("vda", dir);
    if (!(await identical(expected, restored[tool])))
      throw new Error(
        `run ${i}: ${LABEL[tool].restore}'s ${restored[tool]} differs from ${expected}`,
      );
    await fs.rm(expected);
  }
  if (!(await identical(restored.virtsnap, restored.virtnbdbackup)))
    throw new Error(`run ${i}: the two restored images differ`);

  const r = partial as Run;
  const line = (op: Op) =>
    `${op} ${f2(r.virtsnap[op].seconds)}/${f2(r.virtnbdbackup[op].seconds)} s`;
  console.log(
    `  run ${i} (${order[0]} first, change at ${offset} MiB): ${OPS.map(line).join(", ")}; ` +
      `repo ${f2(mib(r.virtsnap.repoAfterInc))}/${f2(mib(r.virtnbdbackup.repoAfterInc))} MiB; ` +
      "restores identical to the expected image and to each other",
  );
  await fs.rm(dir, { recursive: true, force: true });
  return r;
}

// ---- report --------------------------------------------------------------------------------

function stepTable(columns: [string, Timed[]][]): string {
  const labels: string[] = [];
  for (const [, runs] of columns)
    for (const r of runs)
      for (const s of r.steps) if (!labels.includes(s.label)) labels.push(s.label);
  const cell = (runs: Timed[], label: string) => {
    const xs = runs.map((r) => r.steps.find((s) => s.label === label)?.seconds);
    return xs.every((x) => x === undefined) ? "" : f3(median(xs.map((x) => x ?? 0)));
  };
  const rows = labels.map((l) => [l, ...columns.map(([, runs]) => cell(runs, l))]);
  const total = [
    "total (wall)",
    ...columns.map(([, runs]) => f3(median(runs.map((r) => r.seconds)))),
  ];
  return table([["step (median s)", ...columns.map(([h]) => h)], ...rows, total]);
}

function report(runs: Run[], fill: number): object {
  const time = (tool: Tool, op: Op) => stats(runs.map((r) => r[tool][op].seconds));
  const timeSync = (tool: Tool, op: Op) =>
    stats(runs.map((r) => r[tool][op].seconds + r[tool][op].syncSeconds));
  const bytes = (tool: Tool, k: "repoAfterFull" | "repoAfterInc" | "dataFiles" | "restoredBytes") =>
    stats(runs.map((r) => r[tool][k]));
  const ratio = (op: Op) => time("virtsnap", op).median / time("virtnbdbackup", op).median;
  const ratioSync = (op: Op) =>
    timeSync("virtsnap", op).median / timeSync("virtnbdbackup", op).median;
  const repoRatio =
    bytes("virtsnap", "repoAfterInc").max / bytes("virtnbdbackup", "repoAfterInc").min;
  const repoFullRatio =
    bytes("virtsnap", "repoAfterFull").max / bytes("virtnbdbackup", "repoAfterFull").min;
  const pass = {
    full: ratio("full") <= TARGETS.timeRatio,
    inc: ratio("inc") <= TARGETS.timeRatio,
    restore: ratio("restore") <= TARGETS.timeRatio,
    repoSize: repoRatio <= TARGETS.repoRatio,
  };
  const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
  const s3 = (s: { median: number; min: number; max: number }) => [
    f3(s.median),
    f3(s.min),
    f3(s.max),
  ];
  const m2 = (s: { median: number; min: number; max: number }) => [
    f2(mib(s.median)),
    f2(mib(s.min)),
    f2(mib(s.max)),
  ];

  console.log(
    `\nResults (${runs.length} runs; the same ${CHUNKS * CHUNK_MIB} MiB on both domains)`,
  );
  const timeRows = OPS.flatMap((op) =>
    TOOLS.map((tool) => [
      `${op.padEnd(7)} ${LABEL[tool][op]}`,
      ...s3(time(tool, op)),
      f3(timeSync(tool, op).median),
    ]),
  );
  console.log(
    table([["wall time (s)", "median", "min", "max", "+ sync -f (median)"], ...timeRows]),
  );
  console.log("");
  const sizeRows = (
    [
      ["repo after full", "repoAfterFull"],
      ["repo after inc", "repoAfterInc"],
      ["  of which disk data files", "dataFiles"],
      ["restored vda.qcow2 (file size)", "restoredBytes"],
    ] as const
  ).flatMap(([label, k]) => TOOLS.map((tool) => [`${label}: ${tool}`, ...m2(bytes(tool, k))]));
  console.log(table([["size (MiB, du -sb / stat)", "median", "min", "max"], ...sizeRows]));

  console.log(
    "\nWhere virtsnap's time goes (from its -v timestamps; a step runs until the next log line)",
  );
  console.log(
    stepTable(OPS.map((op) => [op, runs.map((r) => r.virtsnap[op])] as [string, Timed[]])),
  );

  console.log(
    "\nTargets (ratios of medians; repository: largest virtsnap / smallest virtnbdbackup)",
  );
  console.log(
    table([
      ["target", "measured", "goal", ""],
      ...OPS.map((op) => [
        `${op}: virtsnap / ${LABEL.virtnbdbackup[op]} wall time`,
        `${f3(ratio(op))}x`,
        `<= ${TARGETS.timeRatio}x`,
        verdict(pass[op]),
      ]),
      [
        "repository after inc: virtsnap / virtnbdbackup (du -sb)",
        `${f3(repoRatio)}x`,
        `<= ${TARGETS.repoRatio}x`,
        verdict(pass.repoSize),
      ],
      ...OPS.map((op) => [
        `  info: ${op} wall time incl. sync -f afterwards`,
        `${f3(ratioSync(op))}x`,
        `<= ${TARGETS.timeRatio}x`,
        verdict(ratioSync(op) <= TARGETS.timeRatio),
      ]),
      [
        "  info: repository after full (du -sb)",
        `${f3(repoFullRatio)}x`,
        `<= ${TARGETS.repoRatio}x`,
        verdict(repoFullRatio <= TARGETS.repoRatio),
      ],
    ]),
  );
  const perTool = <T>(fn: (tool: Tool) => T) => ({
    virtsnap: fn("virtsnap"),
    virtnbdbackup: fn("virtnbdbackup"),
  });
  return {
    bench: "cbt",
    runs: runs.length,
    diskMiB: DISK_MIB,
    writtenMiB: CHUNKS * CHUNK_MIB,
    changeMiB: INC_MIB,
    fillSeconds: fill,
    seconds: Object.fromEntries(OPS.map((op) => [op, perTool((t) => time(t, op))])),
    secondsWithSync: Object.fromEntries(OPS.map((op) => [op, perTool((t) => timeSync(t, op))])),
    ratios: Object.fromEntries(OPS.map((op) => [op, ratio(op)])),
    ratiosWithSync: Object.fromEntries(OPS.map((op) => [op, ratioSync(op)])),
    repoBytesAfterFull: perTool((t) => bytes(t, "repoAfterFull")),
    repoBytesAfterInc: perTool((t) => bytes(t, "repoAfterInc")),
    repoRatio,
    pass,
  };
}

// ---- main ----------------------------------------------------------------------------------

async function bench(options: Options, scratch: string, vms: Record<Tool, LabDomain>) {
  for (const tool of TOOLS)
    console.log(`domain ${vms[tool].name} (for ${tool}): vda qcow2 ${DISK_MIB} MiB`);
  const fill = await fillDisks([vms.virtsnap, vms.virtnbdbackup]);
  console.log(
    `wrote ${CHUNKS} x ${CHUNK_MIB} MiB (distinct patterns, 64 MiB holes between) into each via HMP qemu-io in ${f2(fill)} s`,
  );
  console.log(
    `\nRuns (virtsnap/virtnbdbackup wall s; fresh folders; inc after a ${INC_MIB} MiB change)`,
  );
  const runs: Run[] = [];
  for (let i = 1; i <= options.runs; i++) runs.push(await oneRun(vms, scratch, i));
  return report(runs, fill);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  await requireTools();
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      interrupted = true;
    });
  // 0711 like a real backup dir: in cbt mode QEMU itself writes the push-mode targets.
  const scratch = await tempDir("virtsnap-bench-cbt-");
  // virtnbdbackup and virtnbdrestore leave qemu-img*.log files in TMPDIR: they go with scratch.
  process.env.TMPDIR = scratch;
  const created: LabDomain[] = [];
  try {
    await describeHost(scratch);
    const create = async () => {
      const vm = await LabDomain.create({
        name: uniqueName("vsbench"),
        disks: [{ target: "vda", format: "qcow2", sizeMiB: DISK_MIB }],
      });
      created.push(vm);
      return vm;
    };
    const vms = { virtsnap: await create(), virtnbdbackup: await create() };
    const result = await bench(options, scratch, vms);
    console.log("\nNote: both tools read warm page-cache data (the disks were just written).");
    console.log(`load average after: ${loadavg()}`);
    console.log(JSON.stringify(result));
  } finally {
    for (const vm of created) await vm.destroy();
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
