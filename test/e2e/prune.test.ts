/**
 * prune over a simulated calendar: restic's choice of points, merges that keep every other point
 * byte-identical, a repository that shrinks, and chains that go on incrementally afterwards.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabDomain, must, tempDir, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints, PointBook } from "../lab/points.js";

/** 2026-03-02 is a Monday: the 12 points span ISO weeks 10 and 11. */
const CALENDAR = [
  "2026-03-02T10:00:00Z",
  "2026-03-02T18:00:00Z",
  "2026-03-04T09:00:00Z",
  "2026-03-06T09:00:00Z", // newest of week 10
  "2026-03-09T09:00:00Z",
  "2026-03-09T21:00:00Z",
  "2026-03-10T09:00:00Z", // newest of 03-10
  "2026-03-11T09:00:00Z",
  "2026-03-11T15:00:00Z", // newest of 03-11
  "2026-03-12T09:00:00Z",
  "2026-03-12T12:00:00Z", // last 2
  "2026-03-12T18:00:00Z", // last 2, newest of 03-12 and of week 11
];

const idOf = (iso: string) => iso.replace(/[-:]/g, "").replace(".000", "");

async function repoBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { recursive: true })) {
    const stat = await fs.stat(path.join(dir, entry));
    if (stat.isFile()) total += stat.blocks * 512;
  }
  return total;
}

interface PruneJson {
  kept: { id: string; reasons: string[] }[];
  removed: string[];
  merges: { point: string; absorbs: string[]; how: string }[];
}

describe("prune", () => {
  let work: string;
  const domains: LabDomain[] = [];

  before(async () => {
    work = await tempDir("virtsnap-prune-");
  });
  after(async () => {
    for (const vm of domains) await vm.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("12 points, --keep-last 2 --keep-daily 3 --keep-weekly 2: the expected ones stay, each restores byte-identical", async () => {
    const vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
      start: false,
    });
    domains.push(vm);
    const backupDir = path.join(work, "snapshot");
    const book = new PointBook(vm, backupDir, work);
    const points: ListedPoint[] = [];
    for (const [i, time] of CALENDAR.entries()) {
      // Each point overwrites part of the previous one's data and adds some of its own.
      await vm.write("vda", 0x10 + i, i * 2, 3);
      points.push(await book.backupWith({ VIRTSNAP_TEST_NOW: time }, "--mode", "snapshot"));
    }
    assert.deepEqual(
      points.map((p) => p.id),
      CALENDAR.map(idOf),
    );
    assert.deepEqual(
      points.map((p) => p.level),
      ["full", ...Array(11).fill("inc")],
    );
    const domainDir = path.join(backupDir, vm.name);
    const before = await repoBytes(domainDir);
    const policy = ["--keep-last", "2", "--keep-daily", "3", "--keep-weekly", "2"];

    const dry = await virtsnap([
      "--json",
      "prune",
      vm.name,
      "-b",
      backupDir,
      ...policy,
      "--dry-run",
    ]);
    assert.equal(dry.exitCode, 0, dry.stderr);
    const expectedKept = [3, 6, 8, 10, 11].map((i) => idOf(CALENDAR[i] as string));
    assert.deepEqual(
      (JSON.parse(dry.stdout) as PruneJson).kept.map((k) => k.id),
      expectedKept,
    );
    assert.equal((await listPoints(backupDir, vm.name)).length, 12, "--dry-run changes nothing");

    const r = await virtsnap(["--json", "prune", vm.name, "-b", backupDir, ...policy]);
    assert.equal(r.exitCode, 0, r.stderr);
    const report = JSON.parse(r.stdout) as PruneJson;
    assert.equal(report.removed.length, 7);
    const left = await listPoints(backupDir, vm.name);
    assert.deepEqual(
      left.map((p) => p.id),
      expectedKept,
    );
    assert.equal(left[0]?.level, "full", "the oldest kept point took in the pruned full");
    assert.equal(left[0]?.parent, null);
    assert.match(left[0]?.disks[0]?.file ?? "", /\.full\.qcow2$/);
    for (const p of left.slice(1)) assert.equal(p.parent, left[left.indexOf(p) - 1]?.id);
    for (const point of left) await book.assertRestores(point);
    const afterBytes = await repoBytes(domainDir);
    assert.ok(afterBytes < before, `repository did not shrink: ${before} -> ${afterBytes}`);

    const verify = await virtsnap(["verify", vm.name, "-b", backupDir]);
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
    const files = (await fs.readdir(domainDir, { recursive: true })).filter((f) =>
      f.endsWith(".qcow2"),
    );
    assert.equal(files.length, 5, `one file per kept point: ${files.join(", ")}`);

    // Retention never forces a new full: the live chain still continues from the newest point.
    await vm.write("vda", 0x7e, 40, 1);
    const next = await book.backup("--mode", "snapshot");
    assert.equal(next.level, "inc");
    assert.equal(next.parent, expectedKept.at(-1));
    await book.assertRestores(next);
  });

  it("cbt diffs sharing a full: the full is copied into the kept diff, the inc on top is relinked", async () => {
    const vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
      start: false,
    });
    domains.push(vm);
    const backupDir = path.join(work, "cbt");
    const book = new PointBook(vm, backupDir, work);
    await vm.write("vda", 0x21, 0, 8);
    const full = await book.backup("--mode", "cbt", "--level", "full");
    await vm.write("vda", 0x22, 4, 2);
    const diff1 = await book.backup("--mode", "cbt", "--level", "diff");
    await vm.write("vda", 0x23, 6, 2);
    const diff2 = await book.backup("--mode", "cbt", "--level", "diff");
    await vm.write("vda", 0x24, 1, 1);
    const inc = await book.backup("--mode", "cbt", "--level", "inc");
    assert.equal(diff2.parent, full.id);
    assert.equal(inc.parent, diff2.id);

    const r = await virtsnap(["--json", "prune", vm.name, "-b", backupDir, "--keep-last", "2"]);
    assert.equal(r.exitCode, 0, r.stderr);
    const report = JSON.parse(r.stdout) as PruneJson;
    assert.deepEqual(report.removed, [full.id, diff1.id]);
    assert.deepEqual(report.merges, [
      { point: diff2.id, absorbs: [full.id], newParent: null, how: "rebase" },
    ]);
    const left = await listPoints(backupDir, vm.name);
    assert.deepEqual(
      left.map((p) => [p.id, p.level, p.parent]),
      [
        [diff2.id, "full", null],
        [inc.id, "inc", diff2.id],
      ],
    );
    const incFile = path.join(backupDir, vm.name, left[1]?.disks[0]?.file as string);
    const backing = JSON.parse(await must("qemu-img", ["info", "--output=json", incFile]))[
      "backing-filename"
    ];
    assert.equal(backing, path.basename(left[0]?.disks[0]?.file as string));
    for (const point of left) await book.assertRestores(point);
    const verify = await virtsnap(["verify", vm.name, "-b", backupDir]);
    assert.equal(verify.exitCode, 0, `the relinked inc's checksum: ${verify.stdout}`);
    const checkpoints = await must("virsh", ["checkpoint-list", "--domain", vm.name, "--name"]);
    assert.ok(!checkpoints.includes(full.id), "the removed full's checkpoint is gone");

    await vm.write("vda", 0x25, 9, 1);
    const next = await book.backup("--mode", "cbt");
    assert.equal(next.level, "inc", "the chain goes on without a new full");
    await book.assertRestores(next);

    // The point that became the full never had a checkpoint of its own left: a diff from it
    // cannot be tracked, so the run says so and takes a new full instead of a wrong diff.
    await vm.write("vda", 0x26, 10, 1);
    const diff = await book.attempt(["--json", "--mode", "cbt", "--level", "diff"]);
    assert.equal(diff.exitCode, 0, diff.stderr);
    assert.match(diff.stderr, /taking a new full backup/);
    const taken = await book.latest();
    assert.equal(taken.level, "full");
    await book.assertRestores(taken);
  });

  it("refuses a policy that keeps nothing, and a repository that does not exist", async () => {
    const none = await virtsnap(["prune", "nosuchdomain", "-b", work]);
    assert.equal(none.exitCode, 2);
    assert.match(none.stderr, /--keep/);
    const missing = await virtsnap(["prune", "nosuchdomain", "-b", work, "--keep-last", "1"]);
    assert.equal(missing.exitCode, 2);
    assert.match(missing.stderr, /no backups of 'nosuchdomain'/);
    const bad = await virtsnap(["prune", "nosuchdomain", "-b", work, "--keep-last", "x"]);
    assert.equal(bad.exitCode, 2);
  });
});
