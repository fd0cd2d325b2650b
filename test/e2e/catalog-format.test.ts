/**
 * Catalog formats 1 and 2 side by side: a repository written in the new format (block digests)
 * and one in the old (whole-file sha256, as main wrote it, and a point added to it by this build),
 * verify finding one flipped byte in each, `upgrade` converting the old one, and every point of
 * both restoring identically (qemu-img compare).
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  blockDigestOf,
  catalogFile,
  flipByte,
  readCatalogDoc,
  writeAsFormat1,
} from "../lab/formats.js";
import { LabDomain, sha256, tempDir, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints, PointBook } from "../lab/points.js";

interface Verdicts {
  ok: boolean;
  points: { id: string; ok: boolean; problems: string[] }[];
}

async function verify(name: string, backupDir: string): Promise<{ code: number; doc: Verdicts }> {
  const r = await virtsnap(["--json", "verify", name, "-b", backupDir]);
  return { code: r.exitCode, doc: JSON.parse(r.stdout) as Verdicts };
}

describe("catalog formats", () => {
  let vm: LabDomain;
  let work: string;
  let fresh: PointBook;
  let old: PointBook;
  let freshPoints: ListedPoint[];
  let oldPoints: ListedPoint[];

  before(async () => {
    work = await tempDir("virtsnap-format-");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }] });
    fresh = new PointBook(vm, path.join(work, "fresh"), work);
    old = new PointBook(vm, path.join(work, "old"), work);
    await vm.write("vda", 0x41, 0, 12);
    await old.backup("--mode", "snapshot");
    await writeAsFormat1(old.backupDir, vm.name);
    const freshFull = await fresh.backup("--mode", "snapshot");
    await vm.write("vda", 0x42, 20, 6);
    // The old repository's inc is written by this build's format-1 path.
    await old.backup("--mode", "snapshot");
    const freshInc = await fresh.backup("--mode", "snapshot");
    freshPoints = [freshFull, freshInc];
    // As the catalog has them now: the full rewritten to format 1, the inc written so.
    oldPoints = await listPoints(old.backupDir, vm.name);
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("a new repository is format 2: each disk's digest is README's definition of its file", async () => {
    assert.equal((await readCatalogDoc(fresh.backupDir, vm.name)).format, 2);
    for (const point of freshPoints) {
      for (const disk of point.disks) {
        assert.equal(disk.sha256, undefined);
        const file = path.join(fresh.backupDir, vm.name, disk.file);
        assert.equal(disk.digest, await blockDigestOf(file), disk.file);
      }
    }
  });

  it("a format-1 repository stays format 1: the new point has a whole-file sha256", async () => {
    assert.equal((await readCatalogDoc(old.backupDir, vm.name)).format, 1);
    for (const point of oldPoints) {
      for (const disk of point.disks) {
        assert.equal(disk.digest, undefined);
        assert.equal(disk.sha256, await sha256(path.join(old.backupDir, vm.name, disk.file)));
      }
    }
  });

  it("both verify, and every point of both restores identically", async () => {
    assert.equal((await verify(vm.name, fresh.backupDir)).code, 0);
    assert.equal((await verify(vm.name, old.backupDir)).code, 0);
    for (const point of freshPoints) await fresh.assertRestores(point);
    for (const point of oldPoints) await old.assertRestores(point);
  });

  for (const which of ["new", "old"] as const) {
    it(`verify finds one flipped byte in a point of the ${which} format (exit 1)`, async () => {
      const book = which === "new" ? fresh : old;
      const [full, inc] = (which === "new" ? freshPoints : oldPoints) as [ListedPoint, ListedPoint];
      const file = path.join(book.backupDir, vm.name, inc.disks[0]?.file ?? "");
      await flipByte(file);
      try {
        const { code, doc } = await verify(vm.name, book.backupDir);
        assert.equal(code, 1);
        const byId = new Map(doc.points.map((p) => [p.id, p]));
        assert.equal(byId.get(full.id)?.ok, true);
        assert.match(byId.get(inc.id)?.problems.join() ?? "", /checksum differs from the catalog/);
      } finally {
        await flipByte(file);
      }
      assert.equal((await verify(vm.name, book.backupDir)).code, 0, "the byte is back");
    });
  }

  it("upgrade refuses a format-1 file that no longer matches its sha256, and changes nothing", async () => {
    const file = path.join(old.backupDir, vm.name, oldPoints[0]?.disks[0]?.file ?? "");
    const before = await fs.readFile(catalogFile(old.backupDir, vm.name), "utf8");
    await flipByte(file);
    try {
      const r = await virtsnap(["upgrade", vm.name, "-b", old.backupDir]);
      assert.equal(r.exitCode, 1, r.stderr);
      assert.match(r.stderr, /does not match its sha256; nothing was changed/);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    } finally {
      await flipByte(file);
    }
    assert.equal(await fs.readFile(catalogFile(old.backupDir, vm.name), "utf8"), before);
  });

  it("upgrade converts the old repository to format 2; it verifies and restores, a second upgrade has nothing to do", async () => {
    const r = await virtsnap(["--json", "upgrade", vm.name, "-b", old.backupDir]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual((({ from, to, files }) => ({ from, to, files }))(JSON.parse(r.stdout)), {
      from: 1,
      to: 2,
      files: 2,
    });
    assert.equal((await readCatalogDoc(old.backupDir, vm.name)).format, 2);
    const upgraded = await listPoints(old.backupDir, vm.name);
    assert.deepEqual(
      upgraded.map((p) => p.id),
      oldPoints.map((p) => p.id),
    );
    for (const point of upgraded) {
      for (const disk of point.disks) {
        assert.equal(disk.sha256, undefined);
        const file = path.join(old.backupDir, vm.name, disk.file);
        assert.equal(disk.digest, await blockDigestOf(file));
      }
    }
    assert.equal((await verify(vm.name, old.backupDir)).code, 0);
    for (const point of upgraded) await old.assertRestores(point);
    const again = await virtsnap(["upgrade", vm.name, "-b", old.backupDir]);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.match(again.stdout, /format 2 already; nothing to do/);
    // After the upgrade new points are format 2 as well.
    await vm.write("vda", 0x43, 30, 2);
    const next = await old.backup("--mode", "snapshot");
    assert.match(next.disks[0]?.digest ?? "", /^sha256-4m:[0-9a-f]{64}$/);
    await old.assertRestores(next);
  });

  it("a catalog newer than this build: one line, exit 1, the file left as it is", async () => {
    const dir = path.join(work, "newer");
    await fs.mkdir(path.join(dir, vm.name), { recursive: true });
    const text = `${JSON.stringify({ format: 3, domain: { name: vm.name, uuid: "" }, chains: [], points: [] })}\n`;
    await fs.writeFile(catalogFile(dir, vm.name), text);
    for (const args of [
      ["list", vm.name],
      ["verify", vm.name],
      ["upgrade", vm.name],
    ]) {
      const r = await virtsnap([...args, "-b", dir]);
      assert.equal(r.exitCode, 1, `${args[0]}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /is catalog format 3, newer than this virtsnap reads \(1 and 2\): use a newer virtsnap/,
      );
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    assert.equal(await fs.readFile(catalogFile(dir, vm.name), "utf8"), text);
  });
});
