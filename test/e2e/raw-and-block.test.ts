/**
 * Every disk a real host has is backed up by default: a qcow2 disk, a raw file and a type='block'
 * disk on a loop device (LVM cannot be tested here: the kernel has no device-mapper, so lvcreate
 * fails with "/dev/mapper/control: open failed: No such device").
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { identical, LabDomain, must, sh, tempDir, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints, PointBook } from "../lab/points.js";

const MiB = 1024 * 1024;
const QUIET = ["--quiesce=off"];

/** What `list --json` adds for this feature. */
type Point = Omit<ListedPoint, "disks"> & {
  disks: (ListedPoint["disks"][number] & { whole?: true; reason?: string })[];
  excluded?: { target: string; reason: string }[];
};

describe("raw file and block device disks, snapshot and cbt mode", () => {
  let vm: LabDomain;
  let work: string;
  let book: PointBook;
  let loop: string;
  let mounted: string | undefined;

  before(async () => {
    work = await tempDir("virtsnap-blk-");
    vm = await LabDomain.create({
      disks: [
        { target: "vda", format: "qcow2", sizeMiB: 64 },
        { target: "vdb", format: "raw", sizeMiB: 32 },
        { target: "vdc", format: "raw", sizeMiB: 32, block: true },
      ],
      cdrom: true,
    });
    loop = vm.disks[2]?.path ?? "";
    assert.match(loop, /^\/dev\/loop\d+$/);
    book = new PointBook(vm, path.join(work, "backups"), work);
  });

  after(async () => {
    if (mounted) await sh("umount", [mounted]);
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
    // The loop device went with the domain: nothing of the test stays attached.
    if (loop) assert.notEqual((await sh("losetup", [loop])).exitCode, 0, `${loop} still attached`);
  });

  const points = async () => (await listPoints(book.backupDir, vm.name)) as Point[];
  const point = async (id: string) => (await points()).find((p) => p.id === id) as Point;

  /** After a snapshot-mode run: each disk is `own image <- one overlay`, nothing else left. */
  async function assertShortChains(): Promise<void> {
    const live = new Set<string>();
    for (const d of vm.disks) {
      const chain = await vm.chain(d.target);
      assert.equal(chain.length, 2, `${d.target}: ${chain.join(" <- ")}`);
      assert.equal(chain[1], d.path, `${d.target}: the own image is the base again`);
      for (const f of chain) live.add(f);
    }
    const top = (await vm.chain("vdc"))[0] ?? "";
    assert.equal(path.dirname(top), vm.blockOverlayDir, "a block device's overlay is not in /dev");
    for (const file of await vm.overlayFiles()) assert.ok(live.has(file), `stray overlay ${file}`);
  }

  /** A backup that must succeed; its warnings (none by default) must match `warnings`. */
  async function backup(...extra: string[]): Promise<Point> {
    return backupWarning([], ...extra);
  }

  async function backupWarning(warnings: RegExp[], ...extra: string[]): Promise<Point> {
    const r = await book.attempt(["--json", ...QUIET, ...extra]);
    assert.equal(r.exitCode, 0, r.stderr);
    const said = (JSON.parse(r.stdout) as { domains: { warnings: string[] }[] }).domains[0];
    assert.equal(said?.warnings.length, warnings.length, r.stderr);
    for (const [i, w] of warnings.entries()) assert.match(said?.warnings[i] ?? "", w);
    const latest = await book.latest();
    return point(latest.id);
  }

  it("snapshot mode, running: full, inc, inc of all three disks; every point restores identically", async () => {
    await vm.write("vda", 0x11, 0, 4);
    await vm.write("vdb", 0x21, 0, 2);
    await vm.write("vdc", 0x31, 0, 2);
    const full = await backup("--mode", "snapshot");
    assert.equal(full.level, "full");
    assert.deepEqual(
      full.disks.map((d) => d.target),
      ["vda", "vdb", "vdc"],
    );
    assert.deepEqual(full.excluded, [{ target: "hdc", reason: "cdrom: never backed up" }]);
    await assertShortChains();

    await vm.write("vdb", 0x22, 8, 1);
    await vm.write("vdc", 0x32, 16, 1);
    await vm.write("vda", 0x12, 10, 1);
    const inc1 = await backup("--mode", "snapshot");
    await assertShortChains();
    await vm.write("vdc", 0x33, 31, 1);
    await vm.write("vdb", 0x23, 0, 1);
    const inc2 = await backup("--mode", "snapshot");
    await assertShortChains();

    for (const [p, parent] of [
      [inc1, full],
      [inc2, inc1],
    ] as const) {
      assert.deepEqual([p.level, p.parent, p.chain], ["inc", parent.id, full.id]);
      for (const d of p.disks) {
        assert.match(d.file, /\.inc\.qcow2$/, `${d.target} is incremental`);
        assert.equal(d.whole, undefined);
        // 1 MiB changed of 32: the raw file and the block device hold the changes, not the disk.
        assert.ok(d.bytes < 2 * MiB, `${p.id} ${d.target}: ${d.bytes} bytes`);
      }
    }
    for (const p of [full, inc1, inc2]) await book.assertRestores(p);

    const to = path.join(work, "block-as-raw");
    const r = await virtsnap(["restore", vm.name, "-b", book.backupDir, "--to", to]);
    assert.equal(r.exitCode, 0, r.stderr);
    const raw = path.join(work, "block-as-raw-2");
    const asRaw = await virtsnap([
      ...["restore", vm.name, "-b", book.backupDir, "--to", raw, "--format", "raw"],
    ]);
    assert.equal(asRaw.exitCode, 0, asRaw.stderr);
    for (const target of ["vdb", "vdc"]) {
      const expected = await book.expected(target, inc2);
      assert.ok(await identical(expected, path.join(to, `${target}.qcow2`)), target);
      assert.ok(await identical(expected, path.join(raw, `${target}.raw`)), target);
    }
    const xml = await fs.readFile(path.join(to, `${vm.name}.xml`), "utf8");
    assert.ok(!xml.includes(loop), "the restored XML never points at the live block device");
    assert.ok(!xml.includes('type="block"'), "the restored block disk is a file disk");
    assert.ok(xml.includes(path.join(to, "vdc.qcow2")));
  });

  it("--exclude leaves a disk out; the point records it; restore names it", async () => {
    await vm.write("vdc", 0x34, 4, 1);
    // Not the exclusion itself, but the overlay an earlier point left on vdb is worth a warning.
    const p = await backupWarning(
      [/disk vdb still runs on .*vdb\.raw\.virtsnap-.*consolidate --all-layers/],
      ...["--mode", "snapshot", "--exclude", "vdb"],
    );
    assert.deepEqual(
      p.disks.map((d) => d.target),
      ["vda", "vdc"],
    );
    assert.deepEqual(p.excluded, [
      { target: "vdb", reason: "left out by --exclude" },
      { target: "hdc", reason: "cdrom: never backed up" },
    ]);
    const to = path.join(work, "without-vdb");
    const r = await virtsnap(["--json", "restore", vm.name, "-b", book.backupDir, "--to", to]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /does not hold disk vdb \(left out by --exclude\)/);
    const report = JSON.parse(r.stdout) as { missing: { target: string; reason: string }[] };
    assert.deepEqual(report.missing, [{ target: "vdb", reason: "left out by --exclude" }]);
    await book.assertRestores(p);

    // vdb is not in the point before: the next point copies it whole (its overlay tracks an older one).
    await vm.write("vdb", 0x24, 2, 1);
    const next = await backup("--mode", "snapshot");
    assert.equal(next.level, "inc");
    const vdb = next.disks.find((d) => d.target === "vdb");
    assert.deepEqual([vdb?.whole, /\.full\.qcow2$/.test(vdb?.file ?? "")], [true, true]);
    assert.match(vdb?.reason ?? "", /^not in the previous point/);
    await assertShortChains();
    await book.assertRestores(next);
  });

  it("shut off: an inc with qemu-img, the domain stays off; consolidate --all-layers puts the device back as the disk", async () => {
    await vm.stop();
    await vm.write("vdb", 0x25, 20, 1);
    await vm.write("vdc", 0x35, 24, 1);
    const p = await backup("--mode", "snapshot");
    assert.equal(p.level, "inc");
    assert.equal(await vm.state(), "shut off");
    await assertShortChains();
    await book.assertRestores(p);

    const r = await virtsnap(["consolidate", vm.name, "--all-layers"]);
    assert.equal(r.exitCode, 0, r.stderr);
    for (const d of vm.disks) assert.deepEqual(await vm.chain(d.target), [d.path], d.target);
    assert.deepEqual(await vm.overlayFiles(), []);
    const xml = await must("virsh", ["dumpxml", "--inactive", "--domain", vm.name]);
    const vdc = xml.split("<disk ").find((d) => d.includes("dev='vdc'")) ?? "";
    assert.match(vdc, /^type='block'/);
    assert.ok(vdc.includes(`<source dev='${loop}'`), vdc);
    // The device itself now holds everything the guest wrote.
    assert.ok(await identical(await vm.expectedImage("vdc", work), loop));
    assert.ok(await identical(await vm.expectedImage("vdb", work), vm.disks[1]?.path ?? ""));

    // A shut-off run that fails (target full) merges its overlays back: vdc is type='block' again.
    const small = path.join(work, "small");
    await fs.mkdir(small);
    await must("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", small]);
    mounted = small;
    const failed = await virtsnap(["backup", vm.name, "-b", small, "--mode", "snapshot"]);
    assert.equal(failed.exitCode, 1, failed.stderr);
    assert.match(failed.stderr, /No space left on device/);
    for (const d of vm.disks) assert.deepEqual(await vm.chain(d.target), [d.path], d.target);
    assert.deepEqual(await vm.overlayFiles(), []);
    const again = await must("virsh", ["dumpxml", "--inactive", "--domain", vm.name]);
    assert.ok(again.includes(`<disk type='block' device='disk'>`), again);
    assert.ok(again.includes(`<source dev='${loop}'`), again);
    assert.ok(await identical(await vm.expectedImage("vdc", work), loop));
    await vm.start();
  });

  it("cbt mode: the raw file and the block device are copied whole in each inc, and the point says so", async () => {
    await vm.write("vda", 0x13, 30, 1);
    await vm.write("vdc", 0x36, 8, 1);
    const full = await backup("--mode", "cbt");
    assert.deepEqual([full.mode, full.level], ["cbt", "full"]);
    await vm.write("vdb", 0x26, 12, 1);
    await vm.write("vda", 0x14, 40, 1);
    const inc1 = await backup("--mode", "cbt");
    await vm.write("vdc", 0x37, 12, 1);
    const inc2 = await backup("--mode", "cbt");
    for (const p of [inc1, inc2]) {
      assert.deepEqual([p.mode, p.level], ["cbt", "inc"]);
      const byTarget = new Map(p.disks.map((d) => [d.target, d]));
      assert.match(byTarget.get("vda")?.file ?? "", /\.inc\.qcow2$/);
      assert.equal(byTarget.get("vda")?.whole, undefined);
      for (const [target, kind] of [
        ["vdb", "raw image"],
        ["vdc", "raw block device"],
      ] as const) {
        const d = byTarget.get(target);
        assert.match(d?.file ?? "", /\.full\.qcow2$/, `${target} copied whole`);
        assert.equal(d?.whole, true, target);
        assert.match(d?.reason ?? "", new RegExp(`^${kind}: no dirty bitmap`));
      }
    }
    const text = await virtsnap(["list", vm.name, "-b", book.backupDir]);
    assert.match(text.stdout, new RegExp(`${inc2.id} .*vda,vdb\\(whole\\),vdc\\(whole\\)`));
    for (const p of [full, inc1, inc2]) await book.assertRestores(p);
  });

  it("repair after a run killed mid-copy: the block device's overlays are merged and stray ones deleted", async () => {
    const base = await backup("--mode", "snapshot");
    await vm.write("vdc", 0x38, 2, 1);
    const killed = await book.attempt([...QUIET, "--mode", "snapshot"], {
      VIRTSNAP_FAILPOINT: "backup.snapshot.copy",
    });
    assert.notEqual(killed.exitCode, 0);
    assert.equal((await vm.chain("vdc")).length, 3, "the killed run left a second overlay");
    const stray = path.join(vm.blockOverlayDir, "vdc.virtsnap-20200101T000000Z.qcow2");
    await must("qemu-img", ["create", "-q", "-f", "qcow2", stray, "32M"]);
    const r = await virtsnap(["repair", vm.name, "-b", book.backupDir]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /disk vdc: merged the overlay of unsaved point/);
    assert.match(r.stderr, /disk vdc: deleted unused overlay .*20200101T000000Z/);
    await assertShortChains();
    const next = await backup("--mode", "snapshot");
    assert.deepEqual([next.level, next.parent], ["inc", base.id]);
    await book.assertRestores(next);

    // Running: consolidate --all-layers pivots QEMU back onto the device itself.
    const c = await virtsnap(["consolidate", vm.name, "--all-layers"]);
    assert.equal(c.exitCode, 0, c.stderr);
    for (const d of vm.disks) assert.deepEqual(await vm.chain(d.target), [d.path], d.target);
    assert.deepEqual(await vm.overlayFiles(), []);
    for (const live of [[], ["--inactive"]]) {
      const xml = await must("virsh", ["dumpxml", ...live, "--domain", vm.name]);
      const vdc = xml.split("<disk ").find((d) => d.includes("dev='vdc'")) ?? "";
      assert.match(vdc, /^type='block'/, `${live.join("")} XML: ${vdc}`);
    }
  });
});
