/**
 * Issue 13's targets in one run (`npm run bench:perf`, options --runs N, --size MiB, --large):
 * medians of N runs on throwaway TCG domains, each target printed with its measured ratio and
 * PASS/FAIL, and where a peer or the limit is faster, why. Exit 0 even when a target is missed;
 * 1 when anything fails (a restore that differs, a command that fails).
 *
 *  - snapshot-mode full of SIZE MiB vs `cp --sparse=always` + `sync -f` of the same image (cp
 *    before and after the full, their mean: this disk's rate drifts by 2x within a minute);
 *  - cbt full and inc (64 MiB changed) vs virtnbdbackup, `sync -f` timed in both; restore vs
 *    virtnbdrestore (sync too);
 *  - the fixed cost: an inc with nothing written, snapshot and cbt, with the processes it ran;
 *  - a domain with 4 disks (SIZE/4 each) in one run vs each disk in a run of its own;
 *  - --large: a 16 GiB disk with 8 GiB written vs 8x the 1 GiB figure and vs cp + sync, verify vs cat, peak RSS;
 *  - verify of a repository vs `cat` of its files into /dev/null, the files evicted from the page
 *    cache before each, as cat, verify, verify, cat (whatever reads first after a big write reads
 *    slower here).
 */
import { parseArgs } from "node:util";
import { LabDomain, must, tempDir, uniqueName } from "../test/lab/lab.js";

import { type Figures, printReport } from "./perf-report.js";
import { fill, requireTools, virtsnapRun } from "./perf-run.js";
import { cbtFigures, largeFigures, multiDiskFigures, snapshotFigures } from "./perf-scenarios.js";

interface Options {
  runs: number;
  sizeMiB: number;
  large: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "3" },
      size: { type: "string", default: "1024" },
      large: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("usage: npm run bench:perf -- [--runs N] [--size MiB] [--large]");
    process.exit(0);
  }
  const runs = Number(values.runs);
  const sizeMiB = Number(values.size);
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs needs an integer >= 1");
  if (!Number.isInteger(sizeMiB) || sizeMiB < 256 || sizeMiB % 256 !== 0)
    throw new Error("--size needs a multiple of 256 MiB, at least 256");
  return { runs, sizeMiB, large: values.large };
}

/** Domains filled while shut off (qemu-io, fast), then started: the runs back up running domains. */
async function domain(
  created: LabDomain[],
  disks: { target: string; sizeMiB: number; dataMiB: number }[],
): Promise<LabDomain> {
  const vm = await LabDomain.create({
    name: uniqueName("vsperf"),
    disks: disks.map((d) => ({ target: d.target, format: "qcow2", sizeMiB: d.sizeMiB })),
    start: false,
  });
  created.push(vm);
  for (const d of disks) await fill(vm, d.target, d.dataMiB);
  await vm.start();
  return vm;
}

async function bench(options: Options, scratch: string, created: LabDomain[]): Promise<Figures> {
  const size = options.sizeMiB;
  const one = [{ target: "vda", sizeMiB: 2 * size, dataMiB: size }];
  const snap = await domain(created, one);
  const vs = await domain(created, one);
  const nbd = await domain(created, one);
  const quarter = size / 4;
  const targets = ["vda", "vdb", "vdc", "vdd"];
  const multi = await domain(
    created,
    targets.map((target) => ({ target, sizeMiB: 2 * quarter, dataMiB: quarter })),
  );
  const figures: Figures = { sizeMiB: size, snapshot: [], cbt: [], multi: [] };
  for (let i = 1; i <= options.runs; i++) {
    figures.snapshot.push(await snapshotFigures(snap, scratch, i));
    figures.cbt.push(await cbtFigures(vs, nbd, scratch, i));
    figures.multi.push(await multiDiskFigures(multi, scratch, i));
    console.log(`  run ${i} of ${options.runs} done`);
  }
  const version = await virtsnapRun(["--version"]);
  figures.startup = version.seconds;
  if (options.large) {
    const big = await domain(created, [{ target: "vda", sizeMiB: 16384, dataMiB: 8192 }]);
    figures.large = await largeFigures(big, scratch);
    await big.destroy();
  }
  return figures;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  await requireTools();
  const scratch = await tempDir("virtsnap-bench-perf-");
  // virtnbdbackup and virtnbdrestore leave qemu-img*.log files in TMPDIR: they go with scratch.
  process.env.TMPDIR = scratch;
  const created: LabDomain[] = [];
  console.log(
    `bench/perf: ${options.runs} runs, ${options.sizeMiB} MiB written per disk set` +
      `${options.large ? ", with the 16 GiB disk" : ""}; nproc ${(await must("nproc", [])).trim()}`,
  );
  try {
    const figures = await bench(options, scratch, created);
    printReport(figures);
  } finally {
    for (const vm of created) await vm.destroy().catch(() => {});
    await must("rm", ["-rf", scratch]);
  }
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
