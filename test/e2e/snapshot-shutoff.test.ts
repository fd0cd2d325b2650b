import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { identical, LabDomain, tempDir, virtsnap } from "../lab/lab.js";

describe("snapshot mode, shut-off domain", () => {
  let vm: LabDomain;
  let backupDir: string;
  let work: string;

  before(async () => {
    backupDir = await tempDir("virtsnap-bk-");
    work = await tempDir("virtsnap-work-");
    vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
      start: false,
    });
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(backupDir, { recursive: true, force: true });
    await fs.rm(work, { recursive: true, force: true });
  });

  async function backupPoint(): Promise<{ id: string; level: string; mark: Map<string, number> }> {
    const r = await virtsnap(["--json", "backup", vm.name, "-b", backupDir, "--mode", "snapshot"]);
    assert.equal(r.exitCode, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { domains: { point: string; level: string }[] };
    const result = report.domains[0];
    assert.ok(result);
    return { id: result.point, level: result.level, mark: vm.mark() };
  }

  async function assertRestores(point: { id: string; mark: Map<string, number> }): Promise<void> {
    const to = path.join(work, point.id);
    const r = await virtsnap([
      "restore",
      vm.name,
      "-b",
      backupDir,
      "--point",
      point.id,
      "--to",
      to,
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const expected = await vm.expectedImage("vda", work, point.mark);
    assert.ok(await identical(expected, path.join(to, "vda.qcow2")), `${point.id} differs`);
  }

  it("backs up while shut off, stays shut off, keeps a short chain, restores identically", async () => {
    const own = vm.disks[0]?.path as string;
    await vm.write("vda", 0x41, 0, 4);
    const full = await backupPoint();
    assert.equal(full.level, "full");
    assert.equal(await vm.state(), "shut off");
    let chain = await vm.chain("vda");
    assert.equal(chain.length, 2);
    assert.equal(chain[1], own);

    await vm.write("vda", 0x42, 2, 4);
    const inc = await backupPoint();
    assert.equal(inc.level, "inc");
    assert.equal(await vm.state(), "shut off");
    chain = await vm.chain("vda");
    assert.equal(chain.length, 2, chain.join(" <- "));
    assert.deepEqual(await vm.overlayFiles(), [chain[0]]);

    await assertRestores(full);
    await assertRestores(inc);
  });

  it("the domain still starts after offline backups, and a running backup continues the chain", async () => {
    await vm.start();
    await vm.write("vda", 0x43, 32, 1);
    const point = await backupPoint();
    assert.equal(point.level, "inc");
    await assertRestores(point);
  });
});
