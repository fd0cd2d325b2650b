/**
 * Ctrl-C and SIGTERM during a snapshot-mode copy: the run merges its overlay back, then exits as a
 * program killed by that signal would be reported (130, 143). The signal goes to the whole process
 * group, as a terminal sends Ctrl-C, so virsh and qemu-img get it too.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { LabDomain, must, tempDir } from "../lab/lab.js";
import { listPoints, PointBook } from "../lab/points.js";

const BIN = fileURLToPath(new URL("../../../bin/virtsnap.js", import.meta.url));

/**
 * Starts a backup in a process group of its own and signals the group `delayMs` after its stderr
 * first matches `when` (the copy or the job has begun).
 */
async function interruptedBackup(
  book: PointBook,
  extra: string[],
  when: RegExp,
  signal: NodeJS.Signals,
  delayMs: number,
) {
  const args = [BIN, "backup", book.vm.name, "-b", book.backupDir, ...extra];
  const child = execa(process.execPath, args, { reject: false, detached: true, stdin: "ignore" });
  let stderr = "";
  let signalled = false;
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    if (!signalled && when.test(stderr)) {
      signalled = true;
      setTimeout(() => process.kill(-(child.pid as number), signal), delayMs);
    }
  });
  const result = await child;
  assert.ok(signalled, `the copy never started: ${stderr}`);
  return result;
}

async function checkpoints(name: string): Promise<string[]> {
  return (await must("virsh", ["checkpoint-list", "--domain", name, "--name"]))
    .split("\n")
    .filter(Boolean);
}

describe("interrupted by a signal", () => {
  let vm: LabDomain;
  let work: string;
  let book: PointBook;

  before(async () => {
    work = await tempDir("virtsnap-signal-");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }] });
    book = new PointBook(vm, path.join(work, "backups"), work);
    await vm.write("vda", 0x11, 0, 24);
    await book.backup("--mode", "snapshot");
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    it(`${signal} during the copy: clean-up first, exit ${code}, no point, the next backup is fine`, async () => {
      const before = await listPoints(book.backupDir, vm.name);
      const chainBefore = await vm.chain("vda");
      await vm.write("vda", 0x20 + code, 30, 2);
      const started = Date.now();
      // A full at 1 MiB/s of 24 MiB of data runs for many seconds: signalled 1.5 s into the copy.
      const r = await interruptedBackup(
        book,
        ["--mode", "snapshot", "--level", "full", "--bandwidth", "1"],
        /copying all data/,
        signal,
        1500,
      );
      assert.equal(r.exitCode, code, r.stderr);
      assert.match(r.stderr, new RegExp(`${signal}: stopping; cleaning up first`));
      assert.ok(Date.now() - started < 20_000, "the copy was stopped, not finished");
      // Snapshot mode keeps one overlay on the own image between runs; the new one is merged away.
      assert.deepEqual(await vm.chain("vda"), chainBefore, "the live chain is as before");
      assert.equal(chainBefore.at(-1), vm.disks[0]?.path);
      assert.deepEqual((await vm.overlayFiles()).sort(), chainBefore.slice(0, -1).sort());
      assert.equal(await vm.state(), "running");
      const points = await listPoints(book.backupDir, vm.name);
      assert.deepEqual(
        points.map((p) => p.id),
        before.map((p) => p.id),
        "no new point",
      );
      const files = await fs.readdir(book.backupDir, { recursive: true });
      assert.deepEqual(
        files.filter((f) => f.endsWith(".partial")),
        [],
      );

      const next = await book.backup("--mode", "snapshot");
      assert.equal(next.level, "inc");
      assert.equal(next.parent, before.at(-1)?.id);
      await book.assertRestores(next);
    });
  }
});

describe("interrupted by Ctrl-C during a cbt backup job", () => {
  let vm: LabDomain;
  let work: string;

  before(async () => {
    work = await tempDir("virtsnap-signal-cbt-");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 1024 }] });
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("SIGINT while the job runs: the job is aborted, its checkpoint deleted, exit 130; then an inc", async () => {
    const book = new PointBook(vm, path.join(work, "backups"), work);
    await vm.write("vda", 0x41, 0, 4);
    const first = await book.backup("--mode", "cbt");
    for (let i = 0; i < 8; i++) await vm.write("vda", 0x50 + i, 64 + 64 * i, 64);
    const r = await interruptedBackup(
      book,
      ["--mode", "cbt", "--json"],
      /cbt inc backup/,
      "SIGINT",
      300,
    );
    assert.equal(r.exitCode, 130, r.stderr);
    // The one JSON document tells monitoring the exit code the process really has.
    const report = JSON.parse(r.stdout) as { ok: boolean; exitCode: number };
    assert.deepEqual([report.ok, report.exitCode], [false, 130]);
    assert.match(r.stderr, /SIGINT: stopping; cleaning up first/);
    assert.deepEqual(
      (await listPoints(book.backupDir, vm.name)).map((p) => p.id),
      [first.id],
      "no new point",
    );
    assert.ok(first.checkpoint, "a cbt point names its checkpoint");
    assert.deepEqual(await checkpoints(vm.name), [first.checkpoint]);
    const files = await fs.readdir(book.backupDir, { recursive: true });
    assert.deepEqual(
      files.filter((f) => f.endsWith(".partial")),
      [],
    );
    assert.equal(await vm.state(), "running");
    const next = await book.backup("--mode", "cbt");
    assert.equal(next.level, "inc");
    await book.assertRestores(next);
  });
});
