import assert from "node:assert/strict";
import fs from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { LabDomain, tempDir } from "../lab/lab.js";
import { PointBook } from "../lab/points.js";

describe("snapshot mode, shut-off domain", () => {
  let vm: LabDomain;
  let backupDir: string;
  let work: string;
  let book: PointBook;

  before(async () => {
    backupDir = await tempDir("virtsnap-bk-");
    work = await tempDir("virtsnap-work-");
    vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
      start: false,
    });
    book = new PointBook(vm, backupDir, work);
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(backupDir, { recursive: true, force: true });
    await fs.rm(work, { recursive: true, force: true });
  });

  it("backs up while shut off, stays shut off, keeps a short chain, restores identically", async () => {
    const own = vm.disks[0]?.path as string;
    await vm.write("vda", 0x41, 0, 4);
    const full = await book.backup("--mode", "snapshot");
    assert.equal(full.level, "full");
    assert.equal(await vm.state(), "shut off");
    let chain = await vm.chain("vda");
    assert.equal(chain.length, 2);
    assert.equal(chain[1], own);

    await vm.write("vda", 0x42, 2, 4);
    const r = await book.attempt(["--mode", "snapshot"]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /crash-consistent/, "a shut-off domain's disks are consistent");
    const inc = await book.latest();
    assert.equal(inc.level, "inc");
    assert.equal(await vm.state(), "shut off");
    chain = await vm.chain("vda");
    assert.equal(chain.length, 2, chain.join(" <- "));
    assert.deepEqual(await vm.overlayFiles(), [chain[0]]);

    await book.assertRestores(full);
    await book.assertRestores(inc);
  });

  it("the domain still starts after offline backups, and a running backup continues the chain", async () => {
    await vm.start();
    await vm.write("vda", 0x43, 32, 1);
    const point = await book.backup("--mode", "snapshot");
    assert.equal(point.level, "inc");
    await book.assertRestores(point);
  });
});
