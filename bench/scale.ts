/**
 * Scale benchmark (bench/scale, or `npm run bench:scale`): one repository of 50 snapshot-mode
 * points of a throwaway shut-off TCG domain (a 64 MiB full, then 49 incs of 2 MiB each, one point
 * every 6 simulated hours from 2026-01-01), and how the catalog commands hold up at that size:
 *  - `list --json DOMAIN` and `list --json` over the whole backup dir (target: under 1 s),
 *  - `verify` right after the 10th, 25th and 50th point: seconds, MiB and MiB/s (time linear in
 *    bytes means MiB/s stays about the same), next to `sha256sum` of the same files in the same run,
 *  - `prune --keep-last 10` once (it merges 40 points away): wall time, points and bytes
 *    before/after, time per removed point; then `verify` must still pass.
 * Medians of --runs N (default 5). Exit 0 even when a target is missed; 1 when anything fails.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { LabDomain, must, tempDir, virtsnap } from "../test/lab/lab.js";
import { duBytes, f2, f3, median, mib, parseRuns, stats, table, timed } from "./common.js";

const POINTS = 50;
const VERIFY_AT = [10, 25, 50];
const KEEP_LAST = 10;
const DISK_MIB = 256;
const FULL_MIB = 64;
const INC_MIB = 2;
const START = Date.parse("2026-01-01T00:00:00Z");
const STEP_HOURS = 6;
const TARGETS = { listS: 1, verifySpread: 1.5, fitResidual: 0.1 };

interface Options {
  runs: number;
}

interface ListedPoint {
  id: string;
  level: string;
  parent: string | null;
  disks: { target: string; file: string; bytes: number }[];
}

interface Listing {
  domain: string;
  points: ListedPoint[];
}

interface PruneReport {
  removed: string[];
  kept: { id: string; reasons: string[] }[];
  bytesBefore: number;
  bytesAfter: number;
}

/** verify and sha256sum of the same files, at one repository size. */
interface VerifySample {
  points: number;
  files: number;
  bytes: number;
  verify: number[];
  sha256sum: number[];
}

interface PruneResult {
  seconds: number;
  removed: number;
  pointsBefore: number;
  pointsAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  duBefore: number;
  duAfter: number;
  /** `verify` right after the prune: must exit 0, else the bench fails (after printing). */
  verifyAfter: { seconds: number; exitCode: number; output: string };
}

let interrupted = false;

function parseOptions(argv: string[]): Options {
  const usage = "usage: bench/scale [--runs N]   (N >= 1, default 5; root, libvirtd running)";
  return { runs: parseRuns(argv, usage, { default: 5, min: 1 }) };
}

// ---- virtsnap and the repository -----------------------------------------------------------

/** Runs virtsnap; anything but exit 0 fails the bench. Returns stdout. */
async function run(args: string[], env: Record<string, string> = {}): Promise<string> {
  if (interrupted) throw new Error("interrupted");
  const r = await virtsnap(args, env);
  if (r.exitCode !== 0)
    throw new Error(
      `virtsnap ${args.join(" ")} failed (${r.exitCode}):\n${r.stdout}\n${r.stderr}`.trimEnd(),
    );
  return r.stdout;
}

async function listing(name: string, dir: string): Promise<Listing> {
  return JSON.parse(await run(["--json", "list", name, "-b", dir])) as Listing;
}

/** Every point file of the repository, as absolute paths. */
function pointFiles(dir: string, l: Listing): string[] {
  return l.points.flatMap((p) => p.disks.map((d) => path.join(dir, l.domain, d.file)));
}

/** The repository's size as the catalog counts it (sum of disks[].bytes). */
function catalogBytes(l: Listing): number {
  return l.points.flatMap((p) => p.disks).reduce((sum, d) => sum + d.bytes, 0);
}

/** N timings of fn, in seconds. */
async function repeat(runs: number, fn: () => Promise<unknown>): Promise<number[]> {
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) seconds.push((await timed(fn))[0]);
  return seconds;
}

// ---- the steps -----------------------------------------------------------------------------

/** Guest data before point k (1-based): 64 MiB before the full, then 2 MiB at a new offset. */
async function writeBefore(vm: LabDomain, k: number): Promise<void> {
  if (k === 1) await vm.write("vda", 0x10, 0, FULL_MIB);
  else await vm.write("vda", 0x20 + k, FULL_MIB + (k - 2) * (INC_MIB + 1), INC_MIB);
}

async function backupAt(vm: LabDomain, dir: string, k: number): Promise<number> {
  const iso = new Date(START + (k - 1) * STEP_HOURS * 3600 * 1000).toISOString();
  const args = ["backup", vm.name, "-b", dir, "--mode", "snapshot"];
  const [seconds] = await timed(() => run(args, { VIRTSNAP_TEST_NOW: iso }));
  return seconds;
}

async function measureVerify(
  vm: LabDomain,
  dir: string,
  runs: number,
  points: number,
): Promise<VerifySample> {
  const l = await listing(vm.name, dir);
  if (l.points.length !== points)
    throw new Error(`expected ${points} points in the catalog, list shows ${l.points.length}`);
  const files = pointFiles(dir, l);
  const sample: VerifySample = {
    points,
    files: files.length,
    bytes: catalogBytes(l),
    verify: [],
    sha256sum: [],
  };
  // Alternate the two so that neither gets a warmer cache than the other.
  for (let i = 0; i < runs; i++) {
    sample.verify.push((await timed(() => run(["verify", vm.name, "-b", dir])))[0]);
    sample.sha256sum.push((await timed(() => must("sha256sum", files)))[0]);
  }
  return sample;
}

/** The catalog must say: one full, then only incs, each on the previous point. */
function checkChain(l: Listing): void {
  const levels = l.points.map((p) => p.level).join(",");
  const expected = ["full", ...Array<string>(POINTS - 1).fill("inc")].join(",");
  if (levels !== expected) throw new Error(`catalog levels are ${levels}, expected ${expected}`);
  l.points.forEach((p, k) => {
    if (k > 0 && p.parent !== l.points[k - 1]?.id)
      throw new Error(`point ${p.id} has parent ${p.parent}`);
  });
}

async function pruneOnce(vm: LabDomain, dir: string): Promise<PruneResult> {
  const repo = path.join(dir, vm.name);
  const before = await listing(vm.name, dir);
  const duBefore = await duBytes(repo);
  const args = ["--json", "prune", vm.name, "-b", dir, "--keep-last", String(KEEP_LAST)];
  const [seconds, out] = await timed(() => run(args));
  const report = JSON.parse(out) as PruneReport;
  const after = await listing(vm.name, dir);
  const expectRemoved = POINTS - KEEP_LAST;
  if (report.removed.length !== expectRemoved || after.points.length !== KEEP_LAST)
    throw new Error(
      `prune removed ${report.removed.length} points (expected ${expectRemoved}), ` +
        `${after.points.length} left (expected ${KEEP_LAST})`,
    );
  const duAfter = await duBytes(repo);
  const [verifySeconds, v] = await timed(() => virtsnap(["verify", vm.name, "-b", dir]));
  const verifyAfter = {
    seconds: verifySeconds,
    exitCode: v.exitCode,
    output: `${v.stdout}\n${v.stderr}`.trim(),
  };
  return {
    seconds,
    removed: report.removed.length,
    pointsBefore: before.points.length,
    pointsAfter: after.points.length,
    bytesBefore: report.bytesBefore,
    bytesAfter: report.bytesAfter,
    duBefore,
    duAfter,
    verifyAfter,
  };
}

// ---- report --------------------------------------------------------------------------------

function report(
  runs: number,
  samples: VerifySample[],
  list: { domain: number[]; all: number[] },
  prune: PruneResult,
): object {
  const rate = (s: VerifySample) => mib(s.bytes) / median(s.verify);
  const rates = samples.map(rate);
  const spread = Math.max(...rates) / Math.min(...rates);
  const fit = fitFilesAndBytes(samples);
  const last = samples.at(-1) as VerifySample;
  const listDomain = stats(list.domain);
  const listAll = stats(list.all);
  const verdict = (ok: boolean) => (ok ? "met" : "missed");

  console.log(`\nverify vs sha256sum of the same point files (medians of ${runs}, warm cache)`);
  console.log(
    table([
      ["points", "files", "MiB", "verify s", "MiB/s", "ms/file", "sha256sum s", "MiB/s", "ratio"],
      ...samples.map((s) => {
        const v = median(s.verify);
        const sha = median(s.sha256sum);
        return [
          String(s.points),
          String(s.files),
          f2(mib(s.bytes)),
          f3(v),
          f2(mib(s.bytes) / v),
          f2((1000 * v) / s.files),
          f3(sha),
          f2(mib(s.bytes) / sha),
          `${f2(v / sha)}x`,
        ];
      }),
    ]),
  );

  console.log(`\nprune --keep-last ${KEEP_LAST} (once)`);
  console.log(
    table([
      ["", "before", "after"],
      ["points", String(prune.pointsBefore), String(prune.pointsAfter)],
      ["MiB (catalog)", f2(mib(prune.bytesBefore)), f2(mib(prune.bytesAfter))],
      ["MiB (du -sb)", f2(mib(prune.duBefore)), f2(mib(prune.duAfter))],
    ]),
  );
  console.log(
    `  ${f3(prune.seconds)} s for ${prune.removed} removed points ` +
      `(${f3(prune.seconds / prune.removed)} s per point); verify afterwards: ` +
      `exit ${prune.verifyAfter.exitCode} in ${f3(prune.verifyAfter.seconds)} s`,
  );

  const pass = {
    listDomain: listDomain.median < TARGETS.listS,
    listAll: listAll.median < TARGETS.listS,
    verifyLinear: spread <= TARGETS.verifySpread,
    verifyFit: fit.worstResidual <= TARGETS.fitResidual,
    verifyAfterPrune: prune.verifyAfter.exitCode === 0,
  };
  console.log(`\nFigures (${POINTS} points unless said)`);
  console.log(
    table([
      ["figure", "value", "target", ""],
      [
        "list --json DOMAIN (median)",
        `${f3(listDomain.median)} s`,
        `< ${TARGETS.listS} s`,
        verdict(pass.listDomain),
      ],
      [
        "list --json, whole dir (median)",
        `${f3(listAll.median)} s`,
        `< ${TARGETS.listS} s`,
        verdict(pass.listAll),
      ],
      [
        `verify MiB/s, max/min over ${VERIFY_AT.join("/")} points`,
        `${f2(spread)}x`,
        `<= ${TARGETS.verifySpread}x`,
        verdict(pass.verifyLinear),
      ],
      [
        `verify = ${f2(fit.perFile * 1000)} ms/file + ${f2(fit.perMiB * 1000)} ms/MiB: worst misfit`,
        `${f2(fit.worstResidual * 100)}%`,
        `<= ${TARGETS.fitResidual * 100}%`,
        verdict(pass.verifyFit),
      ],
      [
        `verify (${f2(mib(last.bytes))} MiB, ${last.files} files)`,
        `${f3(median(last.verify))} s`,
        "-",
        "info",
      ],
      [
        "verify / sha256sum of the same files",
        `${f2(median(last.verify) / median(last.sha256sum))}x`,
        "-",
        "info",
      ],
      [
        `prune ${prune.removed} of ${prune.pointsBefore} points`,
        `${f3(prune.seconds)} s`,
        "-",
        "info",
      ],
      ["prune per removed point", `${f3(prune.seconds / prune.removed)} s`, "-", "info"],
      [
        "verify after prune",
        `exit ${prune.verifyAfter.exitCode}`,
        "exit 0",
        verdict(pass.verifyAfterPrune),
      ],
    ]),
  );
  return {
    bench: "scale",
    runs,
    points: POINTS,
    listDomainSeconds: listDomain,
    listAllSeconds: listAll,
    verify: samples.map((s) => ({
      points: s.points,
      files: s.files,
      bytes: s.bytes,
      seconds: stats(s.verify),
      sha256sumSeconds: stats(s.sha256sum),
      MiBps: rate(s),
    })),
    verifySpread: spread,
    prune: {
      ...prune,
      verifyAfter: { seconds: prune.verifyAfter.seconds, exitCode: prune.verifyAfter.exitCode },
    },
    pass,
  };
}

// ---- main ----------------------------------------------------------------------------------

async function bench(options: Options, dir: string, vm: LabDomain): Promise<void> {
  console.log(`domain ${vm.name} (shut off): vda qcow2 ${DISK_MIB} MiB; repository ${dir}`);
  console.log(
    `${POINTS} snapshot-mode points, one every ${STEP_HOURS} simulated hours from ` +
      `${new Date(START).toISOString()}: ${FULL_MIB} MiB before the full, ${INC_MIB} MiB before each inc`,
  );
  const samples: VerifySample[] = [];
  const backups: number[] = [];
  for (let k = 1; k <= POINTS; k++) {
    await writeBefore(vm, k);
    backups.push(await backupAt(vm, dir, k));
    if (VERIFY_AT.includes(k)) {
      const from = (samples.at(-1)?.points ?? 0) + 1;
      const b = stats(backups.slice(from - 1));
      const sample = await measureVerify(vm, dir, options.runs, k);
      samples.push(sample);
      console.log(
        `  points ${from}-${k}: backup median ${f3(b.median)} s (max ${f3(b.max)} s); ` +
          `at ${k} points: ${f2(mib(sample.bytes))} MiB, verify ${f3(median(sample.verify))} s, ` +
          `sha256sum ${f3(median(sample.sha256sum))} s`,
      );
    }
  }
  checkChain(await listing(vm.name, dir));
  console.log(`  catalog: 1 full + ${POINTS - 1} inc, parents linked`);

  const list = {
    domain: await repeat(options.runs, () => run(["--json", "list", vm.name, "-b", dir])),
    all: await repeat(options.runs, () => run(["--json", "list", "-b", dir])),
  };
  const prune = await pruneOnce(vm, dir);
  const result = report(options.runs, samples, list, prune);
  console.log(JSON.stringify(result));
  if (prune.verifyAfter.exitCode !== 0)
    throw new Error(
      `verify after prune exited ${prune.verifyAfter.exitCode}:\n${prune.verifyAfter.output}`,
    );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      interrupted = true;
    });
  const scratch = await tempDir("virtsnap-scale-");
  let vm: LabDomain | undefined;
  try {
    vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: DISK_MIB }],
      start: false,
    });
    await bench(options, path.join(scratch, "backups"), vm);
  } finally {
    await vm?.destroy();
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});

/**
 * verify's time as a per-file cost (qemu-img processes) plus a per-MiB cost (hashing), fitted by
 * least squares over the samples: linear in bytes once the file count is accounted for, if the
 * worst relative misfit is small.
 */
function fitFilesAndBytes(samples: VerifySample[]): {
  perFile: number;
  perMiB: number;
  worstResidual: number;
} {
  const rows = samples.map((s) => ({ f: s.files, m: mib(s.bytes), t: median(s.verify) }));
  const sum = (fn: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + fn(r), 0);
  const [ff, fm, mm] = [sum((r) => r.f * r.f), sum((r) => r.f * r.m), sum((r) => r.m * r.m)];
  const [ft, mt] = [sum((r) => r.f * r.t), sum((r) => r.m * r.t)];
  const det = ff * mm - fm * fm;
  const perFile = (ft * mm - fm * mt) / det;
  const perMiB = (ff * mt - fm * ft) / det;
  const worstResidual = Math.max(
    ...rows.map((r) => Math.abs(perFile * r.f + perMiB * r.m - r.t) / r.t),
  );
  return { perFile, perMiB, worstResidual };
}
