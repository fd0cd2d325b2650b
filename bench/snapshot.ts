/**
 * Snapshot-mode benchmark (bench/snapshot, or `npm run bench:snapshot`): on one throwaway TCG domain
 * with 1 GiB allocated in a 2 GiB qcow2 disk, in the same run,
 *  - full backup throughput vs `cp --sparse=always` (and cp + `sync -f`) of the disk's own image,
 *  - incremental wall time with no guest writes (the fixed overhead) and after a 64 MiB change
 *    (the difference is the data copy),
 *  - repository size vs allocated data.
 * Medians of --runs N (default 3). Exit 0 even when a target is missed; 1 when anything fails.
 */
import { statfsSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { fsyncFile, sha256File } from "../src/repo/files.js";
import { IMAGES, LabDomain, must, uniqueName, virtsnap } from "../test/lab/lab.js";
import {
  commandLabel,
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
const CHUNKS = 16;
const CHUNK_MIB = 64;
const INC_MIB = 64;
const TARGETS = { fullVsCp: 0.9, fixedOverheadS: 1.5, repoSlack: 0.02 };

interface Options {
  runs: number;
}

/** One step of a virtsnap run, from its -v log: the time until the next logged line. */
interface Timed {
  seconds: number;
  steps: Step[];
  report: BackupReport;
}

interface BackupReport {
  ok: boolean;
  domains: { status: string; level?: string; chain?: string; point?: string; bytes?: number }[];
}

interface FullRun {
  backup: Timed;
  cp: number;
  cpSync: number;
  split: { convert: number; check: number; sha256: number; fsync: number };
  repoBytes: number;
}

interface IncRun {
  idle: Timed;
  changed: Timed;
  writeS: number;
  incBytes: number;
}

let interrupted = false;

function parseOptions(argv: string[]): Options {
  const usage = "usage: bench/snapshot [--runs N]   (N >= 3, default 3; root, libvirtd running)";
  return { runs: parseRuns(argv, usage, { default: 3, min: 3 }) };
}

// ---- small helpers -------------------------------------------------------------------------

function checkInterrupted(): void {
  if (interrupted) throw new Error("interrupted");
}

// ---- virtsnap runs and their step breakdown ------------------------------------------------

/** `$ virsh -c URI snapshot-create-as ...` -> `virsh snapshot-create-as`. */

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
    const label = /^[!$] /.test(message) ? commandLabel(message) : "virtsnap between commands";
    events.push({ t: Date.parse(m[1] ?? ""), label });
  }
  events.push({ t: endMs, label: "" });
  const steps: Step[] = [];
  for (let i = 0; i + 1 < events.length; i++) {
    const e = events[i] as { t: number; label: string };
    const label =
      e.label === "qemu-img check" ? "qemu-img check + sha256 + fsync + catalog" : e.label;
    const seconds = ((events[i + 1]?.t ?? e.t) - e.t) / 1000;
    const same = steps.find((s) => s.label === label);
    if (same) same.seconds += seconds;
    else steps.push({ label, seconds });
  }
  return steps;
}

async function backup(name: string, dir: string, level: "full" | "inc"): Promise<Timed> {
  checkInterrupted();
  const args = ["-v", "--json", "backup", name, "-b", dir, "--mode", "snapshot", "--level", level];
  const startMs = Date.now();
  const [seconds, r] = await timed(() => virtsnap(args));
  const endMs = Date.now();
  if (r.exitCode !== 0)
    throw new Error(`virtsnap ${args.join(" ")} failed (${r.exitCode}):\n${r.stderr}`);
  const report = JSON.parse(r.stdout) as BackupReport;
  const got = report.domains[0]?.level;
  if (!report.ok || got !== level)
    throw new Error(`virtsnap backup --level ${level} made a '${got}' point: ${r.stdout}`);
  return { seconds, steps: stepsOf(r.stderr, startMs, endMs), report };
}

// ---- setup ---------------------------------------------------------------------------------

async function describeFilesystems(scratch: string): Promise<void> {
  const df = await must("df", ["-P", "-T", IMAGES, scratch]);
  const [imgDev, scratchDev] = [(await fs.stat(IMAGES)).dev, (await fs.stat(scratch)).dev];
  console.log(df.trimEnd());
  console.log(
    imgDev === scratchDev
      ? `  images and backups on the same filesystem (dev ${imgDev})`
      : `  images and backups on different filesystems (dev ${imgDev} vs ${scratchDev})`,
  );
  const free = statfsSync(scratch);
  const needed = 4 * 1024 * MiB;
  if (free.bavail * free.bsize < needed) throw new Error(`less than 4 GiB free in ${scratch}`);
}

async function fillDisk(vm: LabDomain): Promise<number> {
  const [seconds] = await timed(async () => {
    for (let i = 0; i < CHUNKS; i++) {
      checkInterrupted();
      await vm.write("vda", 0x10 + i, i * 2 * CHUNK_MIB, CHUNK_MIB);
    }
  });
  return seconds;
}

/** Bytes the guest has written: data extents of `qemu-img map` (metadata not counted). */
async function allocatedBytes(image: string): Promise<{ map: number; actualSize: number }> {
  const map = JSON.parse(await must("qemu-img", ["map", "--output=json", "-U", image])) as {
    length: number;
    data: boolean;
  }[];
  const info = JSON.parse(await must("qemu-img", ["info", "--output=json", "-U", image])) as {
    "actual-size": number;
  };
  return {
    map: map.filter((e) => e.data).reduce((sum, e) => sum + e.length, 0),
    actualSize: info["actual-size"],
  };
}

// ---- the measurements ----------------------------------------------------------------------

/**
 * Before every timed step: flush, then fill and free 1 GiB of page cache. This VM's balloon reports
 * free pages to the host (VIRTIO_BALLOON_F_REPORTING), so whichever copy first touches pages freed a
 * few seconds earlier pays ~2 s/GiB of host page faults; with this, every step starts alike.
 */
async function settle(own: string, scratch: string): Promise<void> {
  const warm = path.join(scratch, "warm.qcow2");
  await must("sync", ["-f", scratch]);
  await must("cp", ["--sparse=always", own, warm]);
  await fs.rm(warm);
}

/** The reference: plain cp of the same file (frozen by the backup just taken), warm cache too. */
async function copyReference(
  own: string,
  scratch: string,
): Promise<{ cp: number; cpSync: number }> {
  const dest = path.join(scratch, "cp.qcow2");
  const copy = async (sync: boolean) => {
    await settle(own, scratch);
    const [seconds] = await timed(async () => {
      await must("cp", ["--sparse=always", own, dest]);
      if (sync) await must("sync", ["-f", dest]);
    });
    await fs.rm(dest);
    return seconds;
  };
  const cp = await copy(false);
  return { cp, cpSync: await copy(true) };
}

/** The full backup's copy path by hand, step by step, in virtsnap's order. */
async function splitFull(own: string, scratch: string): Promise<FullRun["split"]> {
  const dest = path.join(scratch, "convert.qcow2");
  await settle(own, scratch);
  const [convert] = await timed(() =>
    must("qemu-img", ["convert", "-U", "-W", "-m", "8", "-O", "qcow2", own, dest]),
  );
  const [check] = await timed(() => must("qemu-img", ["check", "--output=json", dest]));
  const [sha256] = await timed(() => sha256File(dest));
  const [fsync] = await timed(() => fsyncFile(dest));
  await fs.rm(dest);
  return { convert, check, sha256, fsync };
}

async function fullRun(vm: LabDomain, scratch: string, i: number): Promise<FullRun> {
  const dir = path.join(scratch, `repo-${i}`);
  const own = vm.disks[0]?.path as string;
  await settle(own, scratch);
  const b = await backup(vm.name, dir, "full");
  const chain = await vm.chain("vda");
  if (chain.length !== 2 || chain[1] !== own)
    throw new Error(`expected own image <- one overlay after the full, got ${chain.join(" <- ")}`);
  const repoBytes = await duBytes(path.join(dir, vm.name, b.report.domains[0]?.chain ?? "?"));
  const { cp, cpSync } = await copyReference(own, scratch);
  const split = await splitFull(own, scratch);
  console.log(
    `  run ${i}: full ${f2(b.seconds)} s, cp ${f2(cp)} s, cp+sync ${f2(cpSync)} s, ` +
      `convert ${f2(split.convert)} s, repo ${f2(mib(repoBytes))} MiB`,
  );
  return { backup: b, cp, cpSync, split, repoBytes };
}

async function incRun(vm: LabDomain, scratch: string, dir: string, j: number): Promise<IncRun> {
  const own = vm.disks[0]?.path as string;
  await settle(own, scratch);
  const idle = await backup(vm.name, dir, "inc");
  // Into the holes between the 1 GiB chunks: new clusters in the overlay, as a guest would make.
  const [writeS] = await timed(() =>
    vm.write("vda", 0xa0 + j, (2 * (j - 1) + 1) * CHUNK_MIB, INC_MIB),
  );
  await settle(own, scratch);
  const changed = await backup(vm.name, dir, "inc");
  const incBytes = changed.report.domains[0]?.bytes ?? 0;
  console.log(
    `  run ${j}: inc idle ${f3(idle.seconds)} s, 64 MiB write ${f2(writeS)} s, ` +
      `inc after 64 MiB ${f3(changed.seconds)} s (${f2(mib(incBytes))} MiB file)`,
  );
  return { idle, changed, writeS, incBytes };
}

/** The catalog must say: one full, then only incs, each on the previous point. */
async function checkCatalog(name: string, dir: string, incs: number): Promise<void> {
  const r = await virtsnap(["--json", "list", name, "-b", dir]);
  if (r.exitCode !== 0) throw new Error(`virtsnap list failed: ${r.stderr}`);
  const points = (
    JSON.parse(r.stdout) as { points: { id: string; level: string; parent: string | null }[] }
  ).points;
  const levels = points.map((p) => p.level);
  const expected = ["full", ...Array<string>(incs).fill("inc")];
  if (levels.join(",") !== expected.join(","))
    throw new Error(`catalog levels are ${levels.join(",")}, expected ${expected.join(",")}`);
  points.forEach((p, k) => {
    if (k > 0 && p.parent !== points[k - 1]?.id)
      throw new Error(`point ${p.id} has parent ${p.parent}`);
  });
  console.log(`  catalog: ${levels.length} points, 1 full + ${incs} inc, parents linked`);
}

// ---- report --------------------------------------------------------------------------------

function stepTable(columns: [string, Timed[]][]): string {
  const labels: string[] = [];
  for (const [, runs] of columns)
    for (const r of runs)
      for (const s of r.steps) if (!labels.includes(s.label)) labels.push(s.label);
  const cell = (runs: Timed[], label: string) =>
    f3(median(runs.map((r) => r.steps.find((s) => s.label === label)?.seconds ?? 0)));
  const rows = labels.map((l) => [l, ...columns.map(([, runs]) => cell(runs, l))]);
  const total = [
    "total (wall)",
    ...columns.map(([, runs]) => f3(median(runs.map((r) => r.seconds)))),
  ];
  return table([["step (median s)", ...columns.map(([h]) => h)], ...rows, total]);
}

function report(allocated: number, fulls: FullRun[], incs: IncRun[], fill: number): object {
  const full = stats(fulls.map((r) => r.backup.seconds));
  const cp = stats(fulls.map((r) => r.cp));
  const cpSync = stats(fulls.map((r) => r.cpSync));
  const tp = (s: number) => mib(allocated) / s;
  const ratioCp = tp(full.median) / tp(cp.median);
  const ratioCpSync = tp(full.median) / tp(cpSync.median);
  const idle = stats(incs.map((r) => r.idle.seconds));
  const changed = stats(incs.map((r) => r.changed.seconds));
  const dataS = changed.median - idle.median;
  const repo = stats(fulls.map((r) => r.repoBytes));
  const repoRatio = repo.max / allocated;
  const split = (k: keyof FullRun["split"]) => stats(fulls.map((r) => r.split[k]));
  const pass = {
    fullVsCp: ratioCp >= TARGETS.fullVsCp,
    fixedOverhead: idle.median <= TARGETS.fixedOverheadS,
    repoSize: repoRatio <= 1 + TARGETS.repoSlack,
  };
  const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
  const row = (label: string, s: { median: number; min: number; max: number }, extra = "") => [
    label,
    f3(s.median),
    f3(s.min),
    f3(s.max),
    extra,
  ];

  console.log(
    `\nResults (${fulls.length} runs, allocated ${f2(mib(allocated))} MiB, warm page cache)`,
  );
  console.log(
    table([
      ["wall time (s)", "median", "min", "max", "throughput / note"],
      row("full backup (virtsnap)", full, `${f2(tp(full.median))} MiB/s`),
      row("cp --sparse=always", cp, `${f2(tp(cp.median))} MiB/s`),
      row("cp --sparse=always + sync -f", cpSync, `${f2(tp(cpSync.median))} MiB/s`),
      row(
        "  by hand: qemu-img convert",
        split("convert"),
        `${f2(tp(split("convert").median))} MiB/s`,
      ),
      row("  by hand: qemu-img check", split("check"), ""),
      row("  by hand: sha256 (node, 4 MiB reads)", split("sha256"), ""),
      row("  by hand: fsync", split("fsync"), ""),
      row("inc, no guest writes (fixed overhead)", idle, ""),
      row(`inc after a ${INC_MIB} MiB change`, changed, ""),
      [
        "inc data copy (difference of medians)",
        f3(dataS),
        "",
        "",
        dataS > 0 ? `${f2(INC_MIB / dataS)} MiB/s` : "n/a (within noise)",
      ],
    ]),
  );
  console.log(
    "\nWhere the time goes (from virtsnap -v timestamps; a step runs until the next log line;",
  );
  console.log("run 1's full has no blockcommit: nothing was frozen before it)");
  console.log(
    stepTable([
      ["full", fulls.map((r) => r.backup)],
      ["inc idle", incs.map((r) => r.idle)],
      [`inc +${INC_MIB}M`, incs.map((r) => r.changed)],
    ]),
  );
  console.log("\nTargets");
  console.log(
    table([
      ["target", "measured", "goal", ""],
      [
        "full throughput vs cp",
        `${f2(ratioCp)}x`,
        `>= ${TARGETS.fullVsCp}x`,
        verdict(pass.fullVsCp),
      ],
      [
        "full throughput vs cp + sync (virtsnap fsyncs; info)",
        `${f2(ratioCpSync)}x`,
        `>= ${TARGETS.fullVsCp}x`,
        verdict(ratioCpSync >= TARGETS.fullVsCp),
      ],
      [
        "fixed overhead per run",
        `${f3(idle.median)} s`,
        `<= ${TARGETS.fixedOverheadS} s`,
        verdict(pass.fixedOverhead),
      ],
      [
        "repository size / allocated (largest run)",
        `${f3(repoRatio)}x`,
        `<= ${1 + TARGETS.repoSlack}x`,
        verdict(pass.repoSize),
      ],
    ]),
  );
  return {
    bench: "snapshot",
    runs: fulls.length,
    allocatedBytes: allocated,
    fillSeconds: fill,
    fullSeconds: full,
    cpSeconds: cp,
    cpSyncSeconds: cpSync,
    fullMiBps: tp(full.median),
    cpMiBps: tp(cp.median),
    cpSyncMiBps: tp(cpSync.median),
    fullVsCp: ratioCp,
    fullVsCpSync: ratioCpSync,
    split: {
      convert: split("convert"),
      check: split("check"),
      sha256: split("sha256"),
      fsync: split("fsync"),
    },
    incIdleSeconds: idle,
    incChangedSeconds: changed,
    incDataSeconds: dataS,
    incChangeMiB: INC_MIB,
    repoBytes: repo,
    repoRatio,
    pass,
  };
}

// ---- main ----------------------------------------------------------------------------------

async function bench(options: Options, scratch: string, vm: LabDomain): Promise<object> {
  console.log(`domain ${vm.name}: vda qcow2 ${DISK_MIB} MiB at ${vm.disks[0]?.path}`);
  const fill = await fillDisk(vm);
  console.log(
    `wrote ${CHUNKS} x ${CHUNK_MIB} MiB (distinct patterns, 64 MiB holes between) via HMP qemu-io in ${f2(fill)} s`,
  );

  console.log(`\nFull backups (a fresh repository each run) vs cp of the own image`);
  const fulls: FullRun[] = [];
  let allocated = 0;
  for (let i = 1; i <= options.runs; i++) {
    fulls.push(await fullRun(vm, scratch, i));
    if (i === 1) {
      // Only now is the own image frozen and flushed: reading it from outside is reliable.
      const a = await allocatedBytes(vm.disks[0]?.path as string);
      allocated = a.map;
      console.log(
        `  allocated: ${f2(mib(a.map))} MiB (data extents of qemu-img map; used below), ` +
          `file actual-size ${f2(mib(a.actualSize))} MiB`,
      );
      if (a.map !== CHUNKS * CHUNK_MIB * MiB)
        throw new Error(`expected ${CHUNKS * CHUNK_MIB} MiB allocated, map says ${a.map} bytes`);
    }
    if (i < options.runs) await fs.rm(path.join(scratch, `repo-${i}`), { recursive: true });
  }

  console.log(`\nIncrementals into the last repository (idle, then after a ${INC_MIB} MiB change)`);
  const dir = path.join(scratch, `repo-${options.runs}`);
  const incs: IncRun[] = [];
  for (let j = 1; j <= options.runs; j++) incs.push(await incRun(vm, scratch, dir, j));
  await checkCatalog(vm.name, dir, 2 * options.runs);
  return report(allocated, fulls, incs, fill);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      interrupted = true;
    });
  const scratch = await fs.mkdtemp("/var/tmp/virtsnap-bench-");
  let vm: LabDomain | undefined;
  try {
    await describeFilesystems(scratch);
    vm = await LabDomain.create({
      name: uniqueName("vsbench"),
      disks: [{ target: "vda", format: "qcow2", sizeMiB: DISK_MIB }],
    });
    const result = await bench(options, scratch, vm);
    console.log(
      "\nNote: cp, convert and virtsnap all read the image from a warm page cache (dropping",
    );
    console.log(
      "caches is not reliable here); each timed step starts after the same flush + 1 GiB",
    );
    console.log("page-cache churn (see settle()), so their order does not favour any of them.");
    console.log(JSON.stringify(result));
  } finally {
    await vm?.destroy();
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
