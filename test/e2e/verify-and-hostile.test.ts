import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabDomain, must, tempDir, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints, PointBook } from "../lab/points.js";

interface Verdicts {
  ok: boolean;
  points: { id: string; ok: boolean; problems: string[] }[];
}

async function verify(
  name: string,
  backupDir: string,
  ...extra: string[]
): Promise<{ exitCode: number; report: Verdicts }> {
  const r = await virtsnap(["--json", "verify", name, "-b", backupDir, ...extra]);
  return { exitCode: r.exitCode, report: JSON.parse(r.stdout) as Verdicts };
}

describe("verify", () => {
  let vm: LabDomain;
  let work: string;
  let book: PointBook;
  let points: ListedPoint[];

  before(async () => {
    work = await tempDir("virtsnap-verify-");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }] });
    book = new PointBook(vm, path.join(work, "backups"), work);
    points = [];
    for (const pattern of [0x11, 0x12, 0x13]) {
      await vm.write("vda", pattern, pattern - 0x10, 2);
      points.push(await book.backup("--mode", "snapshot"));
    }
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("passes on a good repository", async () => {
    const { exitCode, report } = await verify(vm.name, book.backupDir);
    assert.equal(exitCode, 0);
    assert.deepEqual(
      report.points.map((p) => [p.id, p.ok]),
      points.map((p) => [p.id, true]),
    );
  });

  it("pinpoints one flipped byte in an inc: that point and its dependents are damaged, the full is fine", async () => {
    const [full, inc1, inc2] = points as [ListedPoint, ListedPoint, ListedPoint];
    const file = path.join(book.backupDir, vm.name, inc1.disks[0]?.file ?? "");
    const handle = await fs.open(file, "r+");
    try {
      const { size } = await handle.stat();
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, size - 4096);
      byte[0] = (byte[0] ?? 0) ^ 0xff;
      await handle.write(byte, 0, 1, size - 4096);
    } finally {
      await handle.close();
    }
    const { exitCode, report } = await verify(vm.name, book.backupDir);
    assert.equal(exitCode, 1);
    const byId = new Map(report.points.map((p) => [p.id, p]));
    assert.equal(byId.get(full.id)?.ok, true);
    assert.match(byId.get(inc1.id)?.problems.join() ?? "", /checksum differs/);
    assert.match(byId.get(inc2.id)?.problems.join() ?? "", /depends on damaged/);
    const only = await verify(vm.name, book.backupDir, "--point", full.id);
    assert.equal(only.exitCode, 0, "--point verifies the full and nothing after it");
    assert.deepEqual(
      only.report.points.map((p) => p.id),
      [full.id],
    );
  });

  it("a point file deleted by hand: verify says which, restore fails clearly", async () => {
    const inc2 = points[2] as ListedPoint;
    await fs.rm(path.join(book.backupDir, vm.name, inc2.disks[0]?.file ?? ""));
    const { exitCode, report } = await verify(vm.name, book.backupDir, "--point", inc2.id);
    assert.equal(exitCode, 1);
    assert.match(report.points.at(-1)?.problems.join() ?? "", /is missing/);
    const r = await virtsnap([
      "restore",
      vm.name,
      "-b",
      book.backupDir,
      "--point",
      inc2.id,
      "--to",
      path.join(work, "r"),
    ]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /is missing; run 'virtsnap verify'/);
  });

  it("a hand-edited catalog is refused and left as it is", async () => {
    const catalog = path.join(book.backupDir, vm.name, "virtsnap.json");
    const edited = (await fs.readFile(catalog, "utf8")).replace(
      /"parent": null/,
      '"parent": "20200101T000000Z"',
    );
    await fs.writeFile(catalog, edited);
    for (const args of [
      ["backup", vm.name],
      ["list", vm.name],
      ["verify", vm.name],
    ]) {
      const r = await virtsnap([...args, "-b", book.backupDir]);
      assert.equal(r.exitCode, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /damaged .*refusing to touch this repository/);
    }
    assert.equal(await fs.readFile(catalog, "utf8"), edited);
  });
});

describe("hostile environment", () => {
  let vm: LabDomain;
  let work: string;

  before(async () => {
    work = await tempDir("virtsnap-hostile-");
    vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 32 }],
      start: false,
      extraDisksXml: `<disk type='network' device='disk'><driver name='qemu' type='raw'/>
        <source protocol='nbd' name='nothing'><host name='127.0.0.1' port='1'/></source><target dev='vdz' bus='virtio'/></disk>`,
    });
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("libvirtd not reachable: exit 1 and one line", async () => {
    const r = await virtsnap([
      "-c",
      "qemu+unix:///system?socket=/nonexistent/libvirt-sock",
      "backup",
      vm.name,
      "-b",
      work,
    ]);
    assert.equal(r.exitCode, 1);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? "", /connect/i);
  });

  it("virsh or qemu-img not installed: exit 1 naming the program", async () => {
    const noVirsh = await virtsnap(["backup", vm.name, "-b", work], {
      PATH: path.join(work, "empty"),
    });
    assert.equal(noVirsh.exitCode, 1);
    assert.match(noVirsh.stderr, /virsh is not installed/);
    const onlyVirsh = path.join(work, "only-virsh");
    await fs.mkdir(onlyVirsh);
    await fs.symlink(
      (await must("sh", ["-c", "command -v virsh"])).trim(),
      path.join(onlyVirsh, "virsh"),
    );
    const noQemuImg = await virtsnap(["backup", vm.name, "-b", work], { PATH: onlyVirsh });
    assert.equal(noQemuImg.exitCode, 1);
    assert.match(noQemuImg.stderr, /qemu-img is not installed/);
  });

  it("a network disk is left out with its reason and a warning, the file disk is backed up", async () => {
    const r = await virtsnap([
      "--json",
      "backup",
      vm.name,
      "-b",
      path.join(work, "b"),
      "--mode",
      "snapshot",
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /warn: .*not backing up disk vdz: network disk: never backed up/);
    const result = (
      JSON.parse(r.stdout) as {
        domains: {
          disks: { target: string }[];
          skipped: { target: string }[];
          warnings: string[];
        }[];
      }
    ).domains[0];
    assert.deepEqual(
      result?.disks.map((d) => d.target),
      ["vda"],
    );
    assert.ok(result?.skipped.some((s) => s.target === "vdz"));
    assert.ok(result?.warnings.some((w) => /disk vdz/.test(w)));
    // The point itself says what it left out and why.
    const [point] = (await listPoints(path.join(work, "b"), vm.name)) as unknown as {
      excluded?: { target: string; reason: string }[];
    }[];
    assert.match(point?.excluded?.find((e) => e.target === "vdz")?.reason ?? "", /network disk/);
  });
});
