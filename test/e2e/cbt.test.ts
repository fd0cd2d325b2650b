import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { LabDomain, must, sh, tempDir, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints, PointBook } from "../lab/points.js";

const MiB = 1024 * 1024;

async function checkpoints(name: string): Promise<string[]> {
  return (await must("virsh", ["checkpoint-list", "--domain", name, "--name"]))
    .split("\n")
    .filter(Boolean);
}

describe("cbt mode, running domain with two qcow2 disks", () => {
  let vm: LabDomain;
  let work: string;
  let p: PointBook;

  before(async () => {
    work = await tempDir("virtsnap-cbt-");
    vm = await LabDomain.create({
      disks: [
        { target: "vda", format: "qcow2", sizeMiB: 256 },
        { target: "vdb", format: "qcow2", sizeMiB: 64 },
      ],
    });
    p = new PointBook(vm, path.join(work, "backups"), work);
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("full, inc, inc, diff, inc: every point restores byte-identical; incs hold only the changes", async () => {
    await vm.write("vda", 0x11, 0, 16);
    await vm.write("vdb", 0x21, 0, 4);
    const full = await p.backup();
    assert.deepEqual([full.mode, full.level, full.parent], ["cbt", "full", null]);
    await vm.write("vda", 0x12, 100, 2);
    const inc1 = await p.backup();
    await vm.write("vdb", 0x22, 10, 1);
    await vm.write("vda", 0x13, 1, 1);
    const inc2 = await p.backup("--level", "inc");
    await vm.write("vda", 0x14, 200, 1);
    const diff = await p.backup("--level", "diff");
    await vm.write("vdb", 0x23, 20, 1);
    const inc3 = await p.backup();

    assert.deepEqual(
      [inc1, inc2, diff, inc3].map((x) => [x.level, x.parent, x.chain]),
      [
        ["inc", full.id, full.id],
        ["inc", inc1.id, full.id],
        ["diff", full.id, full.id],
        ["inc", diff.id, full.id],
      ],
    );
    // inc1 wrote 2 MiB on vda and nothing on vdb; the diff holds everything since the full (4 MiB).
    const size = (pt: ListedPoint, t: string) => pt.disks.find((d) => d.target === t)?.bytes ?? -1;
    assert.ok(size(inc1, "vda") < 2 * MiB + MiB, `inc1 vda ${size(inc1, "vda")}`);
    assert.ok(size(inc1, "vdb") < MiB, `inc1 vdb ${size(inc1, "vdb")}`);
    assert.ok(
      size(diff, "vda") >= 4 * MiB && size(diff, "vda") < 5 * MiB,
      `diff vda ${size(diff, "vda")}`,
    );
    for (const point of [full, inc1, inc2, diff, inc3]) await p.assertRestores(point);
    assert.deepEqual(
      await checkpoints(vm.name),
      [full.checkpoint, inc3.checkpoint],
      "only full + latest stay",
    );
  });

  it("copy: a standalone point that touches no checkpoint; the chain continues after it", async () => {
    const before = await checkpoints(vm.name);
    await vm.write("vda", 0x15, 50, 1);
    const copy = await p.backup("--level", "copy");
    assert.deepEqual([copy.level, copy.parent, copy.chain], ["copy", null, copy.id]);
    assert.deepEqual(await checkpoints(vm.name), before);
    await p.assertRestores(copy);
    const tip = (await listPoints(p.backupDir, vm.name)).filter((x) => x.level !== "copy").at(-2);
    const next = await p.backup();
    assert.equal(next.level, "inc");
    assert.notEqual(next.parent, copy.id);
    assert.equal(next.chain, tip?.chain);
    await p.assertRestores(next);
  });

  it("undefine + define between backups: checkpoints are redefined from the saved XML", async () => {
    const xml = path.join(work, "domain.xml");
    await fs.writeFile(xml, await must("virsh", ["dumpxml", "--inactive", "--domain", vm.name]));
    // A running domain keeps its checkpoints through undefine (it only turns transient): stop it first,
    // as a host move would.
    await vm.stop();
    await must("virsh", ["undefine", "--domain", vm.name, "--checkpoints-metadata"]);
    await must("virsh", ["define", "--file", xml]);
    await vm.start();
    assert.deepEqual(await checkpoints(vm.name), []);
    await vm.write("vda", 0x16, 60, 2);
    const r = await p.attempt();
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /redefining lost checkpoint/);
    const point = await p.latest();
    assert.equal(point.level, "inc");
    await p.assertRestores(point);
  });

  it("bitmaps gone (as after a disk swap or a crash): a warning and a new full, never a wrong inc", async () => {
    const nodes = JSON.parse(
      await must("virsh", [
        "qemu-monitor-command",
        "--domain",
        vm.name,
        '{"execute":"query-named-block-nodes","arguments":{"flat":true}}',
      ]),
    ).return as { "node-name": string; "dirty-bitmaps"?: { name: string }[] }[];
    for (const node of nodes) {
      for (const bitmap of node["dirty-bitmaps"] ?? []) {
        const cmd = {
          execute: "block-dirty-bitmap-remove",
          arguments: { node: node["node-name"], name: bitmap.name },
        };
        await must("virsh", ["qemu-monitor-command", "--domain", vm.name, JSON.stringify(cmd)]);
      }
    }
    await vm.write("vdb", 0x24, 30, 1);
    const before = (await listPoints(p.backupDir, vm.name)).at(-1) as ListedPoint;
    const r = await p.attempt();
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /change tracking is gone.*taking a new full backup/);
    assert.doesNotMatch(r.stderr, /\berror:/, "a fallback that worked is a warning, not an error");
    const point = await p.latest();
    assert.equal(point.level, "full");
    assert.notEqual(point.chain, before.chain);
    await p.assertRestores(point);
    const next = await p.backup();
    assert.equal(next.level, "inc");
    await p.assertRestores(next);
  });
});

describe("cbt mode, shut-off domain", () => {
  let vm: LabDomain;
  let work: string;

  before(async () => {
    work = await tempDir("virtsnap-cbt-off-");
    vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
      start: false,
    });
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("full and inc of a shut-off domain: it ends shut off, both restore identically", async () => {
    const p = new PointBook(vm, path.join(work, "backups"), work);
    await vm.write("vda", 0x31, 0, 4);
    const full = await p.backup("--mode", "cbt");
    assert.equal(await vm.state(), "shut off");
    await vm.write("vda", 0x32, 8, 2);
    const inc = await p.backup("--mode", "cbt");
    assert.equal(await vm.state(), "shut off");
    assert.deepEqual([full.level, inc.level], ["full", "inc"]);
    assert.ok((inc.disks[0]?.bytes ?? 0) < 3 * MiB, "offline writes were tracked by the bitmap");
    await p.assertRestores(full);
    await p.assertRestores(inc);
    assert.deepEqual(await vm.chain("vda"), [vm.disks[0]?.path], "no overlays in cbt mode");
  });
});

describe("cbt mode: a job killed mid-way, and auto mode's choice", () => {
  let vm: LabDomain;
  let work: string;

  before(async () => {
    work = await tempDir("virtsnap-cbt-kill-");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 1024 }] });
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("domain destroyed during the job: clear error, no partial point, and the next auto run is correct", async () => {
    const p = new PointBook(vm, path.join(work, "backups"), work);
    await vm.write("vda", 0x41, 0, 4);
    const first = await p.backup();
    for (let i = 0; i < 8; i++) await vm.write("vda", 0x50 + i, 64 + 64 * i, 64);
    const run = execa(
      process.execPath,
      [path.resolve("bin/virtsnap.js"), "backup", vm.name, "-b", p.backupDir],
      {
        reject: false,
      },
    );
    await untilJobRuns(vm.name); // then stop QEMU under the running job
    await must("virsh", ["destroy", "--domain", vm.name]);
    const result = await run;
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(
      result.stderr,
      /domain stopped during the backup job|backup job ended as .Failed./,
    );
    assert.deepEqual(
      (await listPoints(p.backupDir, vm.name)).map((x) => x.id),
      [first.id],
      "no new point",
    );
    const files = await fs.readdir(p.backupDir, { recursive: true });
    assert.deepEqual(
      files.filter((f) => f.endsWith(".partial")),
      [],
    );
    assert.deepEqual(
      await checkpoints(vm.name),
      [first.checkpoint],
      "the job's checkpoint is gone",
    );

    await vm.start();
    const next = await p.backup();
    await p.assertRestores(next);
    await p.assertRestores(first);
  });

  it("--mode auto picks cbt for qcow2 v3 and snapshot for a qcow2 v2 disk", async () => {
    const v2 = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 32, compat: "0.10" }],
    });
    try {
      const dir = path.join(work, "auto");
      const mode = async (name: string) => {
        const r = await virtsnap(["--json", "backup", name, "-b", dir, "--dry-run"]);
        assert.equal(r.exitCode, 0, r.stderr);
        return (JSON.parse(r.stdout) as { domains: { mode: string }[] }).domains[0]?.mode;
      };
      assert.equal(await mode(vm.name), "cbt");
      assert.equal(await mode(v2.name), "snapshot");
      const forced = await virtsnap(["backup", v2.name, "-b", dir, "--mode", "cbt"]);
      assert.equal(forced.exitCode, 1);
      assert.match(forced.stderr, /qcow2 v2 \(compat 0\.10\) cannot hold bitmaps/);
    } finally {
      await v2.destroy();
    }
  });

  it("domain undefined during the job (it turns transient): the point is saved and restores identically", async () => {
    const p = new PointBook(vm, path.join(work, "undefined"), work);
    await p.backup();
    for (let i = 0; i < 8; i++) await vm.write("vda", 0x60 + i, 64 + 64 * i, 64);
    const run = execa(
      process.execPath,
      [path.resolve("bin/virtsnap.js"), "backup", vm.name, "-b", p.backupDir],
      {
        reject: false,
      },
    );
    await untilJobRuns(vm.name);
    await must("virsh", ["undefine", "--domain", vm.name, "--checkpoints-metadata"]);
    const result = await run;
    assert.equal(result.exitCode, 0, result.stderr);
    const point = await p.latest();
    assert.equal(point.level, "inc");
    await p.assertRestores(point);
  });
});

async function untilJobRuns(name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const info = await sh("virsh", ["domjobinfo", "--domain", name]);
    if (/Job type:\s+Unbounded/.test(info.stdout)) return;
    await sleep(20);
  }
}
