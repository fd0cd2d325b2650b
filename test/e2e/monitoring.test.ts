/**
 * Monitoring never goes stale: every failed backup run (exit 2 included) updates the metrics file
 * and status.json; prune and rotate refresh the repository's figures; `backup --json` has one
 * shape whatever happens.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabDomain, tempDir, uniqueName, virtsnap } from "../lab/lab.js";

interface Status {
  result: string;
  lastRun: string;
  point: string | null;
  lastPoint: string | null;
  chainDepth: number;
  points: number;
  chains: number;
  error: string | null;
}

const REPORT_KEYS = ["ok", "exitCode", "error", "host", "domains", "summary"];

/** The value of one metric line for a domain, or undefined without that line. */
function metric(text: string, name: string, domain: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{domain="${domain}"} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

function noStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m, `a stack trace:\n${stderr}`);
  assert.equal(stderr.trim().split("\n").length, 1, `expected one line:\n${stderr}`);
}

describe("monitoring never goes stale", () => {
  let vm: LabDomain;
  let work: string;
  let dir: string;
  let prom: string;

  before(async () => {
    work = await tempDir("virtsnap-monitor-");
    dir = path.join(work, "backups");
    prom = path.join(work, "virtsnap.prom");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 32 }] });
  });
  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  const status = async (name = vm.name) =>
    JSON.parse(await fs.readFile(path.join(dir, name, "status.json"), "utf8")) as Status;
  const metrics = () => fs.readFile(prom, "utf8");
  const backup = (args: string[], env: Record<string, string> = {}) =>
    virtsnap(["--json", "backup", ...args, "--quiesce=off", "--metrics-file", prom], env);

  /** A failed run: exit code as given, the report's one shape, status.json and metrics say failed. */
  async function assertFailedRun(
    args: string[],
    exitCode: number,
    error: RegExp,
    env: Record<string, string> = {},
  ): Promise<void> {
    const before = await status();
    const r = await backup(args, env);
    assert.equal(r.exitCode, exitCode, r.stderr);
    noStack(r.stderr);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      exitCode: number;
      domains: { domain: string; status: string; error?: string }[];
    };
    assert.deepEqual(Object.keys(report), REPORT_KEYS);
    assert.equal(report.ok, false);
    assert.equal(report.exitCode, exitCode);
    assert.deepEqual(
      report.domains.map((d) => [d.domain, d.status]),
      [[vm.name, "failed"]],
    );
    assert.match(report.domains[0]?.error ?? "", error);
    const s = await status();
    assert.equal(s.result, "failed");
    assert.match(s.error ?? "", error);
    assert.ok(s.lastRun > before.lastRun, "status.json is this run's");
    assert.equal(s.lastPoint, before.lastPoint, "the repository's figures stay");
    assert.equal(s.points, before.points);
    const m = await metrics();
    assert.equal(metric(m, "virtsnap_last_run_success", vm.name), 0);
    const ran = metric(m, "virtsnap_last_run_timestamp_seconds", vm.name) ?? 0;
    assert.ok(Math.abs(ran - Date.parse(s.lastRun) / 1000) < 2, "the metrics are this run's");
    assert.equal(metric(m, "virtsnap_points", vm.name), before.points);
  }

  it("a good run: status.json and metrics carry the repository's figures; --json has the shape", async () => {
    const r = await backup([vm.name, "-b", dir]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(Object.keys(JSON.parse(r.stdout)), REPORT_KEYS);
    const s = await status();
    assert.deepEqual([s.result, s.points, s.chains, s.chainDepth], ["ok", 1, 1, 1]);
    assert.equal(s.lastPoint, s.point);
    assert.equal(metric(await metrics(), "virtsnap_last_run_success", vm.name), 1);
  });

  it("exit-2 failures update both: unknown --include disk, no backup dir, bad option values", async () => {
    await assertFailedRun([vm.name, "-b", dir, "--include", "vdz"], 2, /no disk 'vdz'/);
    await assertFailedRun([vm.name, "-b", dir, "--parallel", "0"], 2, /--parallel/);
    await assertFailedRun(
      [vm.name, "-b", dir, "--notify-url", "ftp://example.org"],
      2,
      /only http and https/,
    );
    // No -b at all: nowhere for status.json, but the metrics file still hears of it.
    const before = await metrics();
    const r = await backup([vm.name], { VIRTSNAP_BACKUP_DIR: "" });
    assert.equal(r.exitCode, 2);
    noStack(r.stderr);
    assert.deepEqual(Object.keys(JSON.parse(r.stdout)), REPORT_KEYS);
    const m = await metrics();
    assert.equal(metric(m, "virtsnap_last_run_success", vm.name), 0);
    assert.ok(
      (metric(m, "virtsnap_last_run_timestamp_seconds", vm.name) ?? 0) >=
        (metric(before, "virtsnap_last_run_timestamp_seconds", vm.name) ?? 0),
    );
    assert.equal(
      metric(m, "virtsnap_points", vm.name),
      1,
      "points kept from the catalog's last word",
    );
  });

  it("libvirt unreachable: exit 1, one line, both updated", async () => {
    await assertFailedRun(
      ["-c", "qemu+unix:///system?socket=/nonexistent", vm.name, "-b", dir],
      1,
      /cannot connect to libvirt .*is libvirtd \(or virtqemud\) running/,
    );
  });

  it("a domain that is gone: its repository's status.json and the metrics say so (exit 2)", async () => {
    const gone = uniqueName("gone");
    await fs.mkdir(path.join(dir, gone), { recursive: true });
    const r = await backup([gone, "-b", dir]);
    assert.equal(r.exitCode, 2);
    noStack(r.stderr);
    const s = await status(gone);
    assert.equal(s.result, "failed");
    assert.match(s.error ?? "", /does not exist/);
    assert.equal(metric(await metrics(), "virtsnap_last_run_success", gone), 0);
    const typo = uniqueName("typo");
    assert.equal((await backup([typo, "-b", dir])).exitCode, 2);
    await assert.rejects(fs.stat(path.join(dir, typo)), "a mistyped name creates no folder");
    assert.equal(metric(await metrics(), "virtsnap_last_run_success", typo), 0);
  });

  it("prune and rotate refresh points, chains, newest point and chain depth", async () => {
    for (let i = 0; i < 2; i++) {
      await vm.write("vda", 0x40 + i, i, 1);
      assert.equal((await backup([vm.name, "-b", dir])).exitCode, 0);
    }
    const full = await backup([vm.name, "-b", dir, "--level", "full"]);
    assert.equal(full.exitCode, 0, full.stderr);
    await vm.write("vda", 0x50, 3, 1);
    assert.equal((await backup([vm.name, "-b", dir])).exitCode, 0);
    const before = await status();
    assert.deepEqual([before.points, before.chains, before.chainDepth], [5, 2, 2]);
    const runLines = (text: string) =>
      text.split("\n").filter((l) => l.startsWith("virtsnap_last_run_") && l.includes(vm.name));
    const runBefore = runLines(await metrics());

    const pruned = await virtsnap([
      "prune",
      vm.name,
      "-b",
      dir,
      "--keep-last",
      "3",
      "--metrics-file",
      prom,
    ]);
    assert.equal(pruned.exitCode, 0, pruned.stderr);
    const afterPrune = await status();
    assert.deepEqual([afterPrune.points, afterPrune.chains, afterPrune.chainDepth], [3, 2, 2]);
    assert.equal(afterPrune.lastPoint, before.lastPoint);
    assert.equal(afterPrune.lastRun, before.lastRun, "the last run's own fields stay");
    let m = await metrics();
    assert.equal(metric(m, "virtsnap_points", vm.name), 3);
    assert.deepEqual(runLines(m), runBefore, "prune is not a backup run");

    const rotated = await virtsnap([
      "rotate",
      vm.name,
      "-b",
      dir,
      "--keep-chains",
      "1",
      "--metrics-file",
      prom,
    ]);
    assert.equal(rotated.exitCode, 0, rotated.stderr);
    const afterRotate = await status();
    assert.deepEqual([afterRotate.points, afterRotate.chains, afterRotate.chainDepth], [2, 1, 2]);
    m = await metrics();
    assert.equal(metric(m, "virtsnap_points", vm.name), 2);
    assert.equal(metric(m, "virtsnap_chains", vm.name), 1);
    assert.equal(metric(m, "virtsnap_chain_depth", vm.name), 2);

    // Without --metrics-file, status.json is refreshed all the same.
    const again = await virtsnap(["prune", vm.name, "-b", dir, "--keep-last", "1"]);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.deepEqual([(await status()).points, (await status()).chainDepth], [1, 1]);
    assert.equal(
      metric(await metrics(), "virtsnap_points", vm.name),
      2,
      "no file given: untouched",
    );
  });
});
