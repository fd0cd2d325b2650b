import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { identical, LabDomain, tempDir, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints, PointBook } from "../lab/points.js";

/** After every backup: each disk runs on its own image plus at most one virtsnap overlay, nothing else left. */
async function assertShortChains(vm: LabDomain, targets: string[]): Promise<void> {
  const live = new Set<string>();
  for (const target of targets) {
    const chain = await vm.chain(target);
    const own = vm.disks.find((d) => d.target === target)?.path;
    assert.ok(chain.length <= 2, `${target}: chain too long: ${chain.join(" <- ")}`);
    assert.equal(chain.at(-1), own, `${target}: bottom of the chain is not the disk's own image`);
    for (const f of chain) live.add(f);
  }
  for (const file of await vm.overlayFiles())
    assert.ok(live.has(file), `stray virtsnap overlay ${file}`);
}

describe("snapshot mode, running domain: 2 qcow2 + raw + cdrom", () => {
  let vm: LabDomain;
  let backupDir: string;
  let work: string;
  let book: PointBook;

  before(async () => {
    backupDir = await tempDir("virtsnap-bk-");
    work = await tempDir("virtsnap-work-");
    vm = await LabDomain.create({
      disks: [
        { target: "vda", format: "qcow2", sizeMiB: 256 },
        { target: "vdb", format: "qcow2", sizeMiB: 64 },
        { target: "vdc", format: "raw", sizeMiB: 32 },
      ],
      cdrom: true,
    });
    book = new PointBook(vm, backupDir, work);
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(backupDir, { recursive: true, force: true });
    await fs.rm(work, { recursive: true, force: true });
  });

  async function backupAndCheck(extra: string[] = []): Promise<ListedPoint> {
    const point = await book.backup("--mode", "snapshot", ...extra);
    await assertShortChains(
      vm,
      vm.disks.map((d) => d.target),
    );
    return point;
  }

  const assertRestores = (point: ListedPoint) => book.assertRestores(point);

  it("takes a full and three incrementals; every point restores byte-identical", async () => {
    await vm.write("vda", 0x11, 0, 8);
    await vm.write("vdb", 0x21, 4, 2);
    await vm.write("vdc", 0x31, 0, 1);
    const first = await backupAndCheck();
    assert.equal(first.level, "full");
    assert.equal(first.parent, null);
    assert.deepEqual(
      first.disks.map((d) => d.target),
      ["vda", "vdb", "vdc"],
      "the raw disk is backed up by default",
    );

    await vm.write("vda", 0x12, 4, 2);
    await vm.write("vda", 0x13, 200, 1);
    const chainBefore = await vm.chain("vda");
    const dry = await book.attempt(["--json", "--mode", "snapshot", "--dry-run"]);
    assert.equal(dry.exitCode, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout) as { domains: { status: string; level: string }[] };
    assert.deepEqual([plan.domains[0]?.status, plan.domains[0]?.level], ["planned", "inc"]);
    assert.deepEqual(await vm.chain("vda"), chainBefore, "--dry-run changed the live chain");
    assert.equal((await listPoints(backupDir, vm.name)).length, 1, "--dry-run added a point");
    const second = await backupAndCheck();
    await vm.write("vdb", 0x22, 0, 1);
    const third = await backupAndCheck();
    await vm.write("vda", 0x14, 0, 1);
    await vm.write("vdb", 0x23, 63, 1);
    const fourth = await backupAndCheck();

    for (const [p, parent] of [
      [second, first],
      [third, second],
      [fourth, third],
    ] as const) {
      assert.equal(p.level, "inc");
      assert.equal(p.chain, first.id);
      assert.equal(p.parent, parent.id);
    }
    // An incremental holds the changes, not the disk: vda's second point wrote 3 MiB of 256.
    const vdaInc = second.disks.find((d) => d.target === "vda");
    assert.ok(vdaInc && vdaInc.bytes < 8 * 1024 * 1024, `inc too big: ${vdaInc?.bytes}`);
    for (const p of [first, second, third, fourth]) await assertRestores(p);
  });

  it("repository files are 0600, backing links are relative, nothing partial is left", async () => {
    const dir = path.join(backupDir, vm.name);
    const points = await listPoints(backupDir, vm.name);
    for (const p of points) {
      for (const d of p.disks) {
        const st = await fs.stat(path.join(dir, d.file));
        assert.equal(st.mode & 0o777, 0o600, `${d.file} mode`);
      }
    }
    const files = await fs.readdir(dir, { recursive: true });
    assert.deepEqual(
      files.filter((f) => f.endsWith(".partial")),
      [],
    );
    // A repository moved elsewhere still restores: links are relative to the chain folder.
    const moved = path.join(work, "moved");
    await fs.cp(backupDir, moved, { recursive: true });
    const last = points.at(-1) as ListedPoint;
    await book.assertRestores(last, moved);
    // One disk only: the XML leaves the other disks out rather than point at their live images.
    const to = path.join(work, "only-vda");
    const r = await virtsnap(["restore", vm.name, "-b", moved, "--to", to, "--disk", "vda"]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(await identical(await book.expected("vda", last), path.join(to, "vda.qcow2")));
    const xml = await fs.readFile(path.join(to, `${vm.name}.xml`), "utf8");
    assert.ok(!xml.includes(vm.disks[1]?.path ?? "?"), "XML still names vdb's live image");
    assert.ok(xml.includes('device="cdrom"'), "the cdrom stays");
  });

  it("the raw disk is incremental like qcow2 (--include-raw changes nothing) and restores identically (also as raw)", async () => {
    await vm.write("vdc", 0x32, 8, 2);
    const point = await backupAndCheck(["--include-raw"]);
    const raw = point.disks.find((d) => d.target === "vdc");
    assert.ok(raw, "raw disk in the point");
    assert.match(raw.file, /vdc\.\d{8}T\d{6}Z\.inc\.qcow2$/);
    // 2 MiB written since the previous point, of a 32 MiB disk: the changes, not the disk.
    assert.ok(raw.bytes < 4 * 1024 * 1024, `raw inc too big: ${raw.bytes}`);
    await assertRestores(point);
    const to = path.join(work, "raw-format");
    const r = await virtsnap([
      "restore",
      vm.name,
      "-b",
      backupDir,
      "--to",
      to,
      "--format",
      "raw",
      "--disk",
      "vdc",
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const expected = await book.expected("vdc", point);
    assert.ok(await identical(expected, path.join(to, "vdc.raw")));
  });

  it("restore refuses to overwrite an existing file", async () => {
    const to = path.join(work, "occupied");
    await fs.mkdir(to);
    await fs.writeFile(path.join(to, "vda.qcow2"), "precious");
    const r = await virtsnap(["restore", vm.name, "-b", backupDir, "--to", to]);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /already exists/);
    assert.equal(await fs.readFile(path.join(to, "vda.qcow2"), "utf8"), "precious");
  });

  it("consolidate --all-layers puts the domain back on its own files; next backup starts a new chain; rotate keeps it", async () => {
    await vm.write("vda", 0x15, 16, 1);
    const r = await virtsnap(["consolidate", vm.name, "--all-layers"]);
    assert.equal(r.exitCode, 0, r.stderr);
    for (const d of vm.disks)
      assert.deepEqual(await vm.chain(d.target), [d.path], `${d.target} back on its own image`);
    assert.deepEqual(await vm.overlayFiles(), []);

    const before = await listPoints(backupDir, vm.name);
    const fresh = await backupAndCheck();
    assert.equal(fresh.level, "full");
    assert.notEqual(fresh.chain, before.at(-1)?.chain);

    const rot = await virtsnap(["rotate", vm.name, "-b", backupDir, "--keep-chains", "1"]);
    assert.equal(rot.exitCode, 0, rot.stderr);
    const left = await listPoints(backupDir, vm.name);
    assert.deepEqual(
      left.map((p) => p.id),
      [fresh.id],
    );
    const chains = (await fs.readdir(path.join(backupDir, vm.name))).filter((f) =>
      /^\d{8}T\d{6}Z$/.test(f),
    );
    assert.deepEqual(chains, [fresh.chain], "old chain folder deleted");
    await assertRestores(fresh);

    // After going back to one file, the disk's own image holds the guest's data (QEMU flushed on stop).
    await vm.stop();
    const expected = await vm.expectedImage("vda", work);
    const own = vm.disks.find((d) => d.target === "vda")?.path as string;
    const top = await vm.source("vda");
    assert.ok(await identical(expected, top), "live disk content equals what the guest wrote");
    assert.notEqual(top, own, "the backup put a fresh overlay on top again");
  });
});

describe("snapshot mode: a full goes through the page cache or past it, by its size", () => {
  let vm: LabDomain;
  let work: string;
  let book: PointBook;
  const SYSCTL = "/proc/sys/vm/dirty_background_bytes";
  const RATIO = "/proc/sys/vm/dirty_background_ratio";
  let saved: { bytes: string; ratio: string };

  before(async () => {
    work = await tempDir("virtsnap-cache-");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }] });
    book = new PointBook(vm, path.join(work, "backups"), work);
    saved = {
      bytes: (await fs.readFile(SYSCTL, "utf8")).trim(),
      ratio: (await fs.readFile(RATIO, "utf8")).trim(),
    };
  });

  after(async () => {
    // Writing one of the two sets the other to 0, so the host's own setting is written back alone.
    if (saved?.bytes === "0") await fs.writeFile(RATIO, `${saved.ratio}\n`);
    else if (saved) await fs.writeFile(SYSCTL, `${saved.bytes}\n`);
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("8 MiB of data below a 64 MiB threshold: no -t none; above a 1 MiB one: -t none; both restore identically", async () => {
    await vm.write("vda", 0x5a, 0, 8);
    await fs.writeFile(SYSCTL, `${64 * 1024 * 1024}\n`);
    const cached = await book.attempt(["-v", "--mode", "snapshot", "--level", "full"]);
    assert.equal(cached.exitCode, 0, cached.stderr);
    assert.match(
      cached.stderr,
      /fit below the kernel's writeback threshold \(67108864\): page cache/,
    );
    assert.doesNotMatch(cached.stderr, /qemu-img convert .*-t none/);
    const first = await book.latest();

    await vm.write("vda", 0x6b, 4, 8);
    await fs.writeFile(SYSCTL, `${1024 * 1024}\n`);
    const direct = await book.attempt(["-v", "--mode", "snapshot", "--level", "full"]);
    assert.equal(direct.exitCode, 0, direct.stderr);
    assert.match(direct.stderr, /qemu-img convert .*-t none/);
    assert.doesNotMatch(direct.stderr, /fit below the kernel's writeback threshold/);
    const second = await book.latest();

    await book.assertRestores(first);
    await book.assertRestores(second);
  });
});
