/**
 * rotate/prune --dry-run: they say what they would remove and merge (text and --json), change
 * nothing, and refuse exactly where the real run refuses (an unrepaired run, an instant domain).
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabDomain, removeDomain, tempDir, uniqueName, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints, PointBook } from "../lab/points.js";

interface RotateJson {
  dryRun: boolean;
  removed: string[];
  kept: string[];
  removedChains: { id: string; points: number; bytes: number }[];
}

interface PruneJson {
  dryRun: boolean;
  removed: string[];
  merges: { point: string; absorbs: string[]; how: string }[];
  interruptedPrune: string[];
}

/** Every file of the repository with its size and mtime: a dry run must leave all of them as they are. */
async function snapshotOf(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true });
  const out: string[] = [];
  for (const e of entries.sort()) {
    const st = await fs.stat(path.join(dir, e));
    // Owners and modes too: a dry run must not even hand back files lent to QEMU.
    if (st.isFile()) out.push(`${e} ${st.size} ${st.mtimeMs} ${st.mode} ${st.uid}:${st.gid}`);
  }
  return out;
}

describe("rotate and prune --dry-run", () => {
  let vm: LabDomain;
  let work: string;
  let book: PointBook;
  let points: ListedPoint[];
  const instant = uniqueName("vst-dry");

  before(async () => {
    work = await tempDir("virtsnap-dry-");
    vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
      start: false,
    });
    book = new PointBook(vm, path.join(work, "backups"), work);
    points = [];
    for (let i = 0; i < 5; i++) {
      await vm.write("vda", 0x10 + i, i * 2, 3);
      // Four points in the first chain, one in a second.
      const level = i === 4 ? ["--level", "full"] : [];
      points.push(await book.backup("--mode", "snapshot", ...level));
    }
  });

  after(async () => {
    await removeDomain(instant);
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  const dir = () => path.join(book.backupDir, vm.name);
  const rotate = (...extra: string[]) =>
    virtsnap([
      ...extra,
      "rotate",
      vm.name,
      "-b",
      book.backupDir,
      "--keep-chains",
      "1",
      "--dry-run",
    ]);
  const prune = (keep: string, ...extra: string[]) =>
    virtsnap([...extra, "prune", vm.name, "-b", book.backupDir, "--keep-last", keep, "--dry-run"]);

  it("say what they would remove and merge, in text and --json, and change nothing", async () => {
    const [p1, p2, p3, p4, p5] = points.map((p) => p.id);
    const before = await snapshotOf(dir());
    const text = await rotate();
    assert.equal(text.exitCode, 0, text.stderr);
    assert.match(
      text.stdout,
      new RegExp(`would remove chain ${p1} \\(4 points, [\\d.]+ [KM]iB\\)`),
    );
    assert.match(text.stdout, new RegExp(`would keep chains: ${p5}`));
    const json = JSON.parse((await rotate("--json")).stdout) as RotateJson;
    assert.equal(json.dryRun, true);
    assert.deepEqual(json.removed, [p1]);
    assert.deepEqual(
      json.removedChains.map((c) => [c.id, c.points]),
      [[p1, 4]],
    );
    assert.ok((json.removedChains[0]?.bytes ?? 0) > 0);

    const pruneText = await prune("2");
    assert.equal(pruneText.exitCode, 0, pruneText.stderr);
    assert.match(
      pruneText.stdout,
      new RegExp(`would merge points ${p1}, ${p2}, ${p3} into ${p4} \\(fold\\)`),
    );
    assert.match(pruneText.stdout, new RegExp(`would remove 3 points: ${p1}, ${p2}, ${p3} \\(`));
    // The runner prints each command the merges would run (p4's file committed down into p1's).
    assert.match(
      pruneText.stderr,
      new RegExp(`would run: qemu-img commit -q -b \\S*vda\\.${p1}\\.\\S+ \\S*vda\\.${p4}\\.\\S+`),
    );
    const pruneJson = JSON.parse((await prune("2", "--json")).stdout) as PruneJson;
    assert.equal(pruneJson.dryRun, true);
    assert.deepEqual(pruneJson.removed, [p1, p2, p3]);
    assert.deepEqual(await snapshotOf(dir()), before, "a dry run changes no file");
  });

  it("refuse, as the real run does, while a killed run awaits repair", async () => {
    await vm.write("vda", 0x30, 20, 1);
    const killed = await book.attempt(["--mode", "snapshot"], {
      VIRTSNAP_FAILPOINT: "backup.snapshot.copy",
    });
    assert.equal(killed.exitCode, -1, killed.stderr);
    const real = await virtsnap(["rotate", vm.name, "-b", book.backupDir, "--keep-chains", "1"]);
    assert.equal(real.exitCode, 1);
    for (const r of [await rotate(), await prune("2")]) {
      assert.equal(r.exitCode, 1, r.stderr);
      assert.match(
        r.stderr,
        /an interrupted backup of .* is not repaired yet: run 'virtsnap repair/,
      );
    }
    const repaired = await virtsnap(["repair", vm.name, "-b", book.backupDir]);
    assert.equal(repaired.exitCode, 0, repaired.stderr);
    assert.equal((await rotate()).exitCode, 0);
  });

  it("refuse, as the real run does, while an instant domain reads the repository", async () => {
    const to = path.join(work, "instant");
    const r = await virtsnap([
      "restore",
      vm.name,
      "-b",
      book.backupDir,
      "--to",
      to,
      "--instant",
      instant,
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const before = await snapshotOf(dir());
    for (const refused of [await rotate(), await prune("2")]) {
      assert.equal(refused.exitCode, 1, refused.stderr);
      assert.match(refused.stderr, new RegExp(`domain '${instant}' disk vda reads from`));
    }
    assert.deepEqual(await snapshotOf(dir()), before);
    assert.equal(await removeDomain(instant), undefined);
    const lent = await snapshotOf(dir());
    assert.ok(
      lent.some((line) => line.startsWith("lent-to-qemu.json ")),
      "the loan is recorded",
    );
    for (const dry of [await rotate(), await prune("2")]) assert.equal(dry.exitCode, 0, dry.stderr);
    assert.deepEqual(await snapshotOf(dir()), lent, "a dry run hands nothing back");
  });

  it("after a prune killed mid-way: says it would finish it first, then plans as the real run does", async () => {
    const killed = await virtsnap(["prune", vm.name, "-b", book.backupDir, "--keep-last", "2"], {
      VIRTSNAP_FAILPOINT: "prune.rename",
    });
    assert.equal(killed.exitCode, -1, killed.stderr);
    const dry = await prune("1", "--json");
    assert.equal(dry.exitCode, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout) as PruneJson;
    const [p1, p2, p3, p4] = points.map((p) => p.id);
    assert.deepEqual(plan.interruptedPrune, [p1, p2, p3]);
    assert.match((await prune("1")).stdout, /would first finish an interrupted prune of/);
    const real = await virtsnap([
      "--json",
      "prune",
      vm.name,
      "-b",
      book.backupDir,
      "--keep-last",
      "1",
    ]);
    assert.equal(real.exitCode, 0, real.stderr);
    const done = JSON.parse(real.stdout) as PruneJson;
    assert.deepEqual(done.interruptedPrune, [p1, p2, p3]);
    assert.deepEqual(done.removed, plan.removed, "the dry run's plan is what the real run did");
    assert.ok(plan.removed.includes(p4 as string));
    const left = await listPoints(book.backupDir, vm.name);
    assert.ok(left.length > 0);
    for (const point of left) await book.assertRestores(point);
  });
});
