/** bench/perf's measurements, one function per comparison; each returns seconds (and counts). */
import fs from "node:fs/promises";
import path from "node:path";
import { blockDigest } from "../src/repo/block-digest.js";
import { identical, type LabDomain, must } from "../test/lab/lab.js";
import { dropCheckpoints, timed, LIBVIRT_URI as URI } from "./common.js";
import {
  catSeconds,
  evict,
  type FullPhases,
  filesUnder,
  fullPhases,
  processCount,
  settle,
  timedTool,
  type VirtsnapRun,
  virtsnapRun,
} from "./perf-run.js";

export interface Idle {
  seconds: number;
  processes: number;
  run: VirtsnapRun;
}

export interface SnapshotFigures {
  full: number;
  cpSync: number;
  idle: Idle;
  verify: number;
  cat: number;
  verifiedBytes: number;
  /** The same files' block digests in this process, from a warm cache: the hashing alone. */
  hashOnly: number;
  rss: number[];
}

const own = (vm: LabDomain, i = 0) => vm.disks[i]?.path as string;

function backupArgs(
  vm: LabDomain,
  repo: string,
  mode: string,
  level: string,
  extra: string[] = [],
) {
  return ["--json", "backup", vm.name, "-b", repo, "--mode", mode, "--level", level, ...extra];
}

/** Snapshot mode: a full vs cp --sparse=always + sync; an idle inc; verify vs cat. */
export async function snapshotFigures(
  vm: LabDomain,
  scratch: string,
  i: number,
): Promise<SnapshotFigures> {
  const repo = path.join(scratch, `snap-${i}`);
  const { run: full, cpSync } = await fullVsCpSync(vm, repo, scratch);
  const idleRun = await virtsnapRun(backupArgs(vm, repo, "snapshot", "inc"));
  const idle = { seconds: idleRun.seconds, processes: processCount(idleRun), run: idleRun };
  const { verify, cat, files, bytes } = await verifyVsCat(vm, repo);
  const [hashOnly] = await timed(() => Promise.all(files.map((f) => blockDigest(f))));
  await fs.rm(repo, { recursive: true, force: true });
  return {
    full: full.seconds,
    cpSync,
    idle,
    verify: verify.seconds,
    cat,
    verifiedBytes: bytes,
    hashOnly,
    rss: [full.rssMiB, idleRun.rssMiB, verify.rssMiB],
  };
}

/**
 * A snapshot-mode full between two cp + sync of the same image (their mean), each from the same
 * warm cache: the disk's write rate drifts as its read rate does (verifyVsCat).
 */
async function fullVsCpSync(vm: LabDomain, repo: string, scratch: string) {
  const cpBefore = await cpSyncSeconds(vm, scratch);
  await settle(own(vm), scratch);
  const run = await virtsnapRun(backupArgs(vm, repo, "snapshot", "full"));
  const cpSync = (cpBefore + (await cpSyncSeconds(vm, scratch))) / 2;
  return { run, cpSync };
}

/** cp --sparse=always + sync of the domain's image, from the same warm cache as its full. */
async function cpSyncSeconds(vm: LabDomain, scratch: string): Promise<number> {
  const dest = path.join(scratch, "cp.qcow2");
  await settle(own(vm), scratch);
  const seconds = await timedTool("cp", ["--sparse=always", own(vm), dest], dest);
  await fs.rm(dest);
  return seconds;
}

/**
 * verify of the domain's repository vs cat of the same files, each with the files evicted from the
 * page cache, in the order cat, verify, verify, cat, each side's mean: this disk's read rate drifts
 * by 2x within a minute (slowest right after a big write, so whatever reads first after a backup
 * loses), and the mirrored order gives both sides the same conditions.
 */
async function verifyVsCat(vm: LabDomain, repo: string) {
  const files = await filesUnder(path.join(repo, vm.name));
  const coldCat = async () => {
    await evict(files);
    return catSeconds(files);
  };
  const coldVerify = async () => {
    await evict(files);
    return virtsnapRun(["--json", "verify", vm.name, "-b", repo]);
  };
  const catBefore = await coldCat();
  const first = await coldVerify();
  const second = await coldVerify();
  const cat = (catBefore + (await coldCat())) / 2;
  const sizes = await Promise.all(files.map(async (f) => (await fs.stat(f)).size));
  return {
    verify: {
      seconds: (first.seconds + second.seconds) / 2,
      rssMiB: Math.max(first.rssMiB, second.rssMiB),
    },
    cat,
    files,
    bytes: sizes.reduce((a, b) => a + b, 0),
  };
}

export interface CbtFigures {
  full: [number, number];
  inc: [number, number];
  restore: [number, number];
  idle: Idle;
  rss: number[];
}

/** cbt mode vs virtnbdbackup on an identical domain: full, inc after 64 MiB, restore; sync in all. */
export async function cbtFigures(
  vs: LabDomain,
  nbd: LabDomain,
  scratch: string,
  i: number,
): Promise<CbtFigures> {
  const dir = path.join(scratch, `cbt-${i}`);
  await fs.mkdir(dir, { mode: 0o711 });
  const repo = { vs: path.join(dir, "vs"), nbd: path.join(dir, "nbd") };
  for (const vm of [vs, nbd]) await dropCheckpoints(vm.name);
  const nbdArgs = (level: string) => ["-U", URI, "-d", nbd.name, "-l", level, "-o", repo.nbd, "-n"];
  const both = async (level: string): Promise<[number, number, VirtsnapRun]> => {
    await must("sync", []);
    const run = await virtsnapRun(backupArgs(vs, repo.vs, "cbt", level));
    const [syncS] = await timed(() => must("sync", ["-f", repo.vs]));
    await must("sync", []);
    return [run.seconds + syncS, await timedTool("virtnbdbackup", nbdArgs(level), dir), run];
  };
  const [fullVs, fullNbd, fullRun] = await both("full");
  const offset = ((i - 1) % 8) * 128;
  for (const vm of [vs, nbd]) await vm.write("vda", 0xa0 + i, offset, 64);
  const [incVs, incNbd, incRun] = await both("inc");
  const idleRun = await virtsnapRun(backupArgs(vs, repo.vs, "cbt", "inc"));
  const out = { vs: path.join(dir, "vs-out"), nbd: path.join(dir, "nbd-out") };
  await fs.mkdir(out.nbd);
  await must("sync", []);
  const restoreRun = await virtsnapRun([
    "--json",
    "restore",
    vs.name,
    "-b",
    repo.vs,
    "--to",
    out.vs,
  ]);
  const [restoreSync] = await timed(() => must("sync", ["-f", out.vs]));
  const nbdLog = path.join(dir, "virtnbdrestore.log");
  const nbdRestore = await timedTool(
    "virtnbdrestore",
    ["-i", repo.nbd, "-o", out.nbd, "-n", "-L", nbdLog],
    out.nbd,
  );
  if (!(await identical(path.join(out.vs, "vda.qcow2"), path.join(out.nbd, "vda.qcow2"))))
    throw new Error(`run ${i}: the two restored images differ`);
  await fs.rm(dir, { recursive: true, force: true });
  return {
    full: [fullVs, fullNbd],
    inc: [incVs, incNbd],
    restore: [restoreRun.seconds + restoreSync, nbdRestore],
    idle: { seconds: idleRun.seconds, processes: processCount(idleRun), run: idleRun },
    rss: [fullRun.rssMiB, incRun.rssMiB, idleRun.rssMiB, restoreRun.rssMiB],
  };
}

/** A domain's disks in one run vs each disk alone (a fresh repository each), snapshot-mode fulls. */
export async function multiDiskFigures(
  vm: LabDomain,
  scratch: string,
  i: number,
): Promise<{ together: number; oneByOne: number; rss: number[] }> {
  const repo = path.join(scratch, `multi-${i}`);
  for (const d of vm.disks) await settle(d.path, scratch);
  const all = await virtsnapRun(backupArgs(vm, path.join(repo, "all"), "snapshot", "full"));
  let oneByOne = 0;
  const rss = [all.rssMiB];
  for (const d of vm.disks) {
    await settle(d.path, scratch);
    const extra = ["--include", d.target];
    const one = await virtsnapRun(
      backupArgs(vm, path.join(repo, d.target), "snapshot", "full", extra),
    );
    oneByOne += one.seconds;
    rss.push(one.rssMiB);
  }
  await fs.rm(repo, { recursive: true, force: true });
  return { together: all.seconds, oneByOne, rss };
}

export interface LargeFigures {
  seconds: number;
  /** cp --sparse=always + sync of the same image, from the same warm cache. */
  cpSync: number;
  rss: number;
  verify: number;
  cat: number;
  bytes: number;
  /** The full's write and read-back, from its log (undefined if the log lacks the lines). */
  phases: FullPhases | undefined;
}

/**
 * The big disk's full (wall time, peak RSS) and cp + sync of its image, as for 1 GiB; then verify
 * of its repository vs cat (cold).
 */
export async function largeFigures(vm: LabDomain, scratch: string): Promise<LargeFigures> {
  const repo = path.join(scratch, "large");
  const { run, cpSync } = await fullVsCpSync(vm, repo, scratch);
  const { verify, cat, bytes } = await verifyVsCat(vm, repo);
  await fs.rm(repo, { recursive: true, force: true });
  return {
    seconds: run.seconds,
    cpSync,
    rss: Math.max(run.rssMiB, verify.rssMiB),
    verify: verify.seconds,
    cat,
    bytes,
    phases: fullPhases(run),
  };
}
