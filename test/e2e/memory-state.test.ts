/** backup --memory-state: RAM saved with the point; restore under the domain's own name resumes it. */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabDomain, must, sh, tempDir, uniqueName, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints, PointBook } from "../lab/points.js";

describe("--memory-state", () => {
  let vm: LabDomain;
  let work: string;
  let backupDir: string;
  let book: PointBook;
  let point: ListedPoint & { files?: { kind: string; file: string; sha256: string }[] };
  const other = uniqueName("vst-mem");

  before(async () => {
    work = await tempDir("virtsnap-memory-");
    backupDir = path.join(work, "backups");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }] });
    book = new PointBook(vm, backupDir, work);
  });

  after(async () => {
    await sh("virsh", ["destroy", "--domain", other]);
    await sh("virsh", ["undefine", "--domain", other]);
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("saves the running domain's RAM with the point, listed with a checksum that verify checks", async () => {
    await vm.write("vda", 0x81, 0, 4);
    point = await book.backup("--mode", "snapshot", "--memory-state");
    const memory = point.files?.find((f) => f.kind === "memory");
    assert.ok(memory, "the point lists its memory file");
    const file = path.join(backupDir, vm.name, memory.file);
    assert.ok((await fs.stat(file)).size > 0);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    assert.equal(await vm.state(), "running");
    assert.equal((await vm.chain("vda")).length, 2, "own image <- one overlay, as without memory");
    const good = await virtsnap(["verify", vm.name, "-b", backupDir]);
    assert.equal(good.exitCode, 0, good.stdout + good.stderr);

    const original = await fs.readFile(file);
    const damaged = Buffer.from(original);
    damaged[damaged.length - 10] = (damaged[damaged.length - 10] ?? 0) ^ 0xff;
    await fs.writeFile(file, damaged);
    const bad = await virtsnap(["verify", vm.name, "-b", backupDir]);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stdout, /memory: .*checksum differs/);
    await fs.writeFile(file, original);

    const cbt = await book.attempt(["--mode", "cbt", "--memory-state"]);
    assert.equal(cbt.exitCode, 2);
    assert.match(cbt.stderr, /--memory-state needs --mode snapshot/);
  });

  it("another name boots from the disks (with a warning); the own name resumes the saved RAM", async () => {
    const elsewhere = await virtsnap([
      "--json",
      "restore",
      vm.name,
      "-b",
      backupDir,
      "--point",
      point.id,
      "--to",
      path.join(work, "other"),
      "--define",
      other,
    ]);
    assert.equal(elsewhere.exitCode, 0, elsewhere.stderr);
    assert.match(elsewhere.stderr, /resumes it only under the name/);
    assert.equal((JSON.parse(elsewhere.stdout) as { resumed: boolean }).resumed, false);
    assert.equal((await must("virsh", ["domstate", "--domain", other])).trim(), "shut off");

    // The original is lost (its disks stay where they are, unused).
    await must("virsh", ["destroy", "--domain", vm.name]);
    await must("virsh", ["undefine", "--domain", vm.name]);
    const to = path.join(work, "resumed");
    const r = await virtsnap([
      "--json",
      "restore",
      vm.name,
      "-b",
      backupDir,
      "--point",
      point.id,
      "--to",
      to,
      "--define",
      vm.name,
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { resumed: boolean }).resumed, true);
    const state = await must("virsh", ["domstate", "--reason", "--domain", vm.name]);
    assert.match(state, /running \(restored\)/);
    const info = await must("virsh", ["dominfo", "--domain", vm.name]);
    assert.match(info, /Persistent:\s+yes/);
    const restored = path.join(to, "vda.qcow2");
    const cmp = await sh("qemu-img", [
      "compare",
      "-U",
      await book.expected("vda", point),
      restored,
    ]);
    assert.equal(cmp.exitCode, 0, cmp.stdout + cmp.stderr);
    assert.equal((await listPoints(backupDir, vm.name)).length, 1);
  });
});
