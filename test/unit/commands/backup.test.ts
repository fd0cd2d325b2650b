/**
 * backup, driven through a scripted virsh/qemu-img: the order of what it runs in snapshot and cbt
 * mode, and that the put-back (blockcommit merging the new overlay into the disk) still runs after
 * a failed copy and after Ctrl-C. The repository and the disk image are real files in a tmp dir.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { type BackupOptions, backup } from "../../../src/commands/backup.js";
import { readJournal } from "../../../src/journal.js";
import {
  type Answer,
  chainJson,
  domainXml,
  type Script,
  ScriptedRun,
  scratchDir,
  scriptedContext,
  writesLastArg,
} from "../../lab/scripted-run.js";

const NAME = "vm1";

function options(work: string, extra: Partial<BackupOptions> = {}): BackupOptions {
  return {
    domains: [NAME],
    all: false,
    allRunning: false,
    backupDir: path.join(work, "backups"),
    mode: "snapshot",
    level: "auto",
    quiesce: "off",
    filter: { include: undefined, exclude: [] },
    dryRun: false,
    fullEvery: undefined,
    compress: false,
    bandwidthMiB: undefined,
    parallel: 1,
    memoryState: false,
    metricsFile: undefined,
    notifyUrls: [],
    notifyOn: "always",
    ...extra,
  };
}

/** A running one-disk domain on `disk`, on a host with (cbt) or without the backup API. */
function hostScript(disk: string, cbt: boolean): Script {
  return [
    [/^virsh domstate/, { stdout: "running\n" }],
    [/^virsh dumpxml/, { stdout: domainXml(NAME, disk) }],
    [
      /^virsh version/,
      { stdout: "Using library: libvirt 9.0.0\nRunning hypervisor: QEMU 7.2.0\n" },
    ],
    [/^virsh domcapabilities/, { stdout: cbt ? "<backup supported='yes'/>" : "" }],
    [/^qemu-img info -U --backing-chain/, { stdout: chainJson([disk]) }],
    [/^virsh blockjob .* --info/, { stdout: "" }],
    [/^virsh snapshot-create-as/, {}],
    [/^qemu-img convert/, writesLastArg()],
    [/^qemu-img check/, { stdout: "{}" }],
    [/^virsh blockcommit/, {}],
  ];
}

/** The same host with the backup API: the job's commands on top. */
function cbtScript(disk: string): Script {
  const writesPartial: Answer = {
    effect: (args) => fs.writeFile(args.find((a) => a.endsWith(".partial")) as string, "qcow2"),
  };
  return [
    [/^virsh domjobinfo --domain \S+ --completed/, { stdout: "Job type:         Completed\n" }],
    [/^virsh domjobinfo/, { stdout: "Job type:         None\n" }],
    [/^virsh checkpoint-list/, { stdout: "" }],
    [
      /^virsh checkpoint-dumpxml/,
      { stdout: "<domaincheckpoint><name>x</name></domaincheckpoint>" },
    ],
    [/^virsh backup-begin/, {}],
    [/^qemu-img create/, writesPartial],
    ...hostScript(disk, true),
  ];
}

describe("backup with a scripted runner", () => {
  let work: string;
  let disk: string;
  const dirs: string[] = [];

  beforeEach(async () => {
    work = await scratchDir("virtsnap-scripted-");
    dirs.push(work);
    disk = path.join(work, "vm1.qcow2");
    await fs.writeFile(disk, "disk");
  });
  after(async () => {
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  });

  it("snapshot mode: snapshot, copy, check, in that order, and the point is saved", async () => {
    const runner = new ScriptedRun(hostScript(disk, false));
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    const report = await backup(ctx, options(work));
    assert.equal(report.ok, true, JSON.stringify(report));
    // The domain is read once (domstate, dumpxml), its chain once, after the host's probe.
    assert.deepEqual(runner.words(), [
      "virsh version",
      "virsh domcapabilities",
      "virsh domstate",
      "virsh dumpxml",
      "qemu-img info",
      "virsh blockjob",
      "virsh dumpxml",
      "virsh snapshot-create-as",
      "qemu-img convert",
      "qemu-img check",
    ]);
    assert.equal(runner.matching(/^virsh blockcommit/).length, 0, "nothing to put back");
  });

  it("a host probe that fails fails the run once, on its own error, with nothing changed", async () => {
    const runner = new ScriptedRun(hostScript(disk, false));
    const refused =
      "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/run/x': Connection refused";
    runner.prepend([[/^virsh version/, { fail: refused }]]);
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    const report = await backup(ctx, options(work));
    assert.equal(report.ok, false);
    assert.equal(report.host, null);
    assert.match(report.error ?? "", /^cannot connect to libvirt at .*Connection refused/);
    assert.match(report.domains[0]?.error ?? "", /^cannot connect to libvirt/);
    // The domain was read beside the probe, and then left alone: no lock, no overlay, no copy.
    assert.ok(runner.words().includes("virsh dumpxml"), runner.words().join(", "));
    assert.deepEqual(
      runner.calls.filter((c) => !/^virsh (version|domcapabilities|domstate|dumpxml)/.test(c)),
      [],
    );
    assert.deepEqual(await fs.readdir(path.join(work, "locks")).catch(() => []), []);
  });

  it("snapshot mode: after a failed copy the overlay is merged back, and the journal says failed", async () => {
    const runner = new ScriptedRun(hostScript(disk, false));
    runner.prepend([[/^qemu-img convert/, { fail: "qemu-img: No space left on device" }]]);
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    const report = await backup(ctx, options(work));
    assert.equal(report.ok, false);
    const tail = runner.words().slice(-3);
    assert.deepEqual(tail, ["virsh snapshot-create-as", "qemu-img convert", "virsh blockcommit"]);
    assert.match(runner.calls.at(-1) ?? "", new RegExp(`--active --pivot --base ${disk} `));
    const journal = await readJournal(path.join(work, "backups", NAME, "journal.json"));
    assert.equal(journal?.failed, true);
  });

  it("snapshot mode: after Ctrl-C during the copy the overlay is still merged back", async () => {
    const runner = new ScriptedRun(hostScript(disk, false));
    const { ctx, abort } = scriptedContext(runner, path.join(work, "locks"));
    runner.prepend([[/^qemu-img convert/, { effect: () => abort.abort() }]]);
    const report = await backup(ctx, options(work));
    assert.equal(report.ok, false);
    assert.match(report.domains[0]?.error ?? "", /interrupted/);
    const tail = runner.words().slice(-2);
    assert.deepEqual(tail, ["qemu-img convert", "virsh blockcommit"]);
    assert.match(runner.calls.at(-1) ?? "", /--active --pivot/);
  });

  it("cbt mode: targets, job, wait, check, in that order", async () => {
    const runner = new ScriptedRun(cbtScript(disk));
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    const report = await backup(ctx, options(work, { mode: "cbt" }));
    assert.equal(report.ok, true, JSON.stringify(report));
    const words = runner.words();
    assert.deepEqual(words.slice(0, 11), [
      "virsh version",
      "virsh domcapabilities",
      "virsh domstate",
      "virsh dumpxml",
      "qemu-img info",
      "virsh blockjob",
      "virsh dumpxml",
      "qemu-img create",
      "virsh backup-begin",
      "virsh domjobinfo",
      "virsh domjobinfo",
    ]);
    // After the job: the file's check and the checkpoint's XML side by side, then the pruning.
    assert.deepEqual(words.slice(11, 13).sort(), ["qemu-img check", "virsh checkpoint-dumpxml"]);
    assert.deepEqual(words.slice(13), ["virsh checkpoint-list"]);
  });

  it("cbt mode: a checkpoint XML that cannot be read undoes the point once the files are done", async () => {
    const runner = new ScriptedRun(cbtScript(disk));
    runner.prepend([
      [/^virsh checkpoint-dumpxml/, { fail: "error: Domain checkpoint not found" }],
      [/^virsh domjobabort/, {}],
    ]);
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    const report = await backup(ctx, options(work, { mode: "cbt" }));
    assert.equal(report.ok, false);
    assert.match(report.domains[0]?.error ?? "", /checkpoint not found/);
    // The check ran to its end before the undo, and the undo left no disk file behind.
    const words = runner.words();
    assert.ok(
      words.indexOf("qemu-img check") < words.indexOf("virsh domjobabort"),
      words.join(", "),
    );
    const domainDir = path.join(work, "backups", NAME);
    const left = await fs.readdir(domainDir, { recursive: true });
    assert.deepEqual(
      left.filter((f) => f.includes(".qcow2")),
      [],
    );
  });

  it("cbt mode: after Ctrl-C during the job, the job is aborted (by the wait, then by the undo)", async () => {
    const runner = new ScriptedRun(cbtScript(disk));
    const { ctx, abort } = scriptedContext(runner, path.join(work, "locks"));
    runner.prepend([
      [/^virsh backup-begin/, { effect: () => abort.abort() }],
      [/^virsh domjobabort/, {}],
    ]);
    const report = await backup(ctx, options(work, { mode: "cbt" }));
    assert.equal(report.ok, false);
    assert.match(report.domains[0]?.error ?? "", /interrupted/);
    const calls = runner.words();
    const afterJob = calls.slice(calls.indexOf("virsh backup-begin"));
    assert.deepEqual(afterJob.slice(0, 3), [
      "virsh backup-begin",
      "virsh domjobabort",
      "virsh domjobabort",
    ]);
    const journal = await readJournal(path.join(work, "backups", NAME, "journal.json"));
    assert.equal(journal?.failed, true);
  });
});
