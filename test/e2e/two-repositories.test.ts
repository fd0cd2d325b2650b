// One domain backed up in cbt mode into two repositories (a nightly one and an ad-hoc one, as on a
// USB disk before an upgrade), beside a checkpoint of another tool: each repository keeps its own
// checkpoints, both stay incremental, and nobody else's checkpoint is ever deleted.
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabDomain, must, tempDir, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints, PointBook } from "../lab/points.js";

const MiB = 1024 * 1024;
const FOREIGN = "virtnbdbackup.0";

interface BackupJson {
  ok: boolean;
  domains: { level: string; warnings: string[] }[];
  summary: { warnings: number };
}

async function checkpoints(name: string): Promise<string[]> {
  return (await must("virsh", ["checkpoint-list", "--domain", name, "--name"]))
    .split("\n")
    .filter(Boolean)
    .sort();
}

/** One run as cron would make it: exit 0, no error line, no warning; returns the new point. */
async function run(book: PointBook, ...extra: string[]): Promise<ListedPoint> {
  const r = await book.attempt(["--json", "--quiesce=off", ...extra]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /\berror:/, "no error line on a run that succeeded");
  const doc = JSON.parse(r.stdout) as BackupJson;
  assert.equal(doc.summary.warnings, 0, r.stderr);
  const point = await book.latest();
  assert.equal(doc.domains[0]?.level, point.level);
  return point;
}

const vdaBytes = (p: ListedPoint) => p.disks.find((d) => d.target === "vda")?.bytes ?? -1;

describe("two repositories for one domain, cbt mode", () => {
  let vm: LabDomain;
  let work: string;
  let nightly: PointBook;
  let usb: PointBook;
  const points = { nightly: [] as ListedPoint[], usb: [] as ListedPoint[] };

  before(async () => {
    work = await tempDir("virtsnap-two-repos-");
    vm = await LabDomain.create({
      disks: [
        { target: "vda", format: "qcow2", sizeMiB: 128 },
        { target: "vdb", format: "qcow2", sizeMiB: 32 },
      ],
    });
    nightly = new PointBook(vm, path.join(work, "nightly"), work);
    usb = new PointBook(vm, path.join(work, "usb"), work);
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("alternating runs stay incremental in both; each inc holds every write since its own last point", async () => {
    await vm.write("vda", 0x11, 0, 8);
    await vm.write("vdb", 0x21, 0, 2);
    points.nightly.push(await run(nightly, "--mode", "cbt"));
    // Another tool's checkpoint, between the two repositories' ones.
    await must("virsh", ["checkpoint-create-as", "--domain", vm.name, "--name", FOREIGN]);
    await vm.write("vda", 0x12, 20, 2);
    points.usb.push(await run(usb, "--mode", "cbt"));
    assert.deepEqual(
      [points.nightly[0]?.level, points.usb[0]?.level],
      ["full", "full"],
      "each repository starts with its own full",
    );
    for (let round = 0; round < 3; round++) {
      // Written before the other repository's run: its checkpoint comes later than these writes,
      // so only this repository's own, older bitmap has them.
      await vm.write("vda", 0x30 + round, 30 + round, 1);
      await vm.write("vdb", 0x40 + round, 4 + round, 1);
      const n = await run(nightly);
      await vm.write("vda", 0x50 + round, 40 + round, 1);
      const u = await run(usb);
      assert.deepEqual([n.level, u.level], ["inc", "inc"], `round ${round}`);
      assert.equal(n.parent, points.nightly.at(-1)?.id);
      assert.equal(u.parent, points.usb.at(-1)?.id);
      // Since nightly's last point: round 0, the 2 MiB written before usb's full and 1 MiB; then
      // 1 MiB written before usb's last run and 1 MiB after it.
      const since = round === 0 ? 3 : 2;
      assert.ok(vdaBytes(n) >= since * MiB && vdaBytes(n) < (since + 1) * MiB, `${vdaBytes(n)}`);
      assert.ok(vdaBytes(u) >= 2 * MiB && vdaBytes(u) < 3 * MiB, `usb inc ${vdaBytes(u)}`);
      points.nightly.push(n);
      points.usb.push(u);
      const names = await checkpoints(vm.name);
      const fullsAndNewest = [points.nightly[0], n, points.usb[0], u].map(
        (p) => p?.checkpoint as string,
      );
      assert.deepEqual(names, [...fullsAndNewest, FOREIGN].sort(), `round ${round}: ${names}`);
    }
    const [a, b] = [points.nightly[0]?.checkpoint, points.usb[0]?.checkpoint];
    assert.match(a ?? "", /^virtsnap-[0-9a-f]{8}-\d{8}T\d{6}Z$/);
    assert.notEqual(a?.split("-")[1], b?.split("-")[1], "two repositories, two ids");
    for (const p of points.nightly) await nightly.assertRestores(p);
    for (const p of points.usb) await usb.assertRestores(p);
  });

  it("--level copy touches no checkpoint, and the chain continues after it", async () => {
    const before = await checkpoints(vm.name);
    await vm.write("vda", 0x61, 50, 1);
    const copy = await run(usb, "--level", "copy");
    assert.equal(copy.level, "copy");
    assert.deepEqual(await checkpoints(vm.name), before);
    await usb.assertRestores(copy);
    const next = await run(usb);
    assert.equal(next.level, "inc");
    await usb.assertRestores(next);
    points.usb.push(copy, next);
  });

  it("prune and repair of one repository delete only its own checkpoints", async () => {
    const theirs = (await checkpoints(vm.name)).filter(
      (n) => !n.includes(points.nightly[0]?.checkpoint?.split("-")[1] as string),
    );
    const r = await virtsnap(["prune", vm.name, "-b", nightly.backupDir, "--keep-last", "2"]);
    assert.equal(r.exitCode, 0, r.stderr);
    const kept = await listPoints(nightly.backupDir, vm.name);
    assert.equal(kept.length, 2);
    const names = await checkpoints(vm.name);
    assert.ok(!names.includes(points.nightly[0]?.checkpoint as string), "pruned full's is gone");
    for (const name of theirs) assert.ok(names.includes(name), `${name} survives the prune`);
    const repair = await virtsnap(["repair", vm.name, "-b", nightly.backupDir]);
    assert.equal(repair.exitCode, 0, repair.stderr);
    assert.deepEqual(await checkpoints(vm.name), names, "repair finds nothing to delete");

    await vm.write("vda", 0x71, 60, 1);
    const n = await run(nightly);
    await vm.write("vda", 0x72, 61, 1);
    const u = await run(usb);
    assert.deepEqual([n.level, u.level], ["inc", "inc"]);
    for (const p of [...kept, n]) await nightly.assertRestores(p);
    await usb.assertRestores(u);
    assert.ok((await checkpoints(vm.name)).includes(FOREIGN));
  });

  it("after undefine + define each repository redefines only its own checkpoints", async () => {
    const xml = path.join(work, "domain.xml");
    await fs.writeFile(xml, await must("virsh", ["dumpxml", "--inactive", "--domain", vm.name]));
    await vm.stop();
    await must("virsh", ["undefine", "--domain", vm.name, "--checkpoints-metadata"]);
    await must("virsh", ["define", "--file", xml]);
    await vm.start();
    await vm.write("vda", 0x81, 70, 1);
    const n = await run(nightly);
    assert.equal(n.level, "inc");
    const afterNightly = await checkpoints(vm.name);
    assert.ok(afterNightly.every((c) => c.startsWith(`virtsnap-${n.checkpoint?.split("-")[1]}-`)));
    await vm.write("vda", 0x82, 71, 1);
    const u = await run(usb);
    assert.equal(u.level, "inc");
    // The other tool's checkpoint is that tool's to redefine: virtsnap never brings it back.
    assert.ok(!(await checkpoints(vm.name)).includes(FOREIGN));
    await nightly.assertRestores(n);
    await usb.assertRestores(u);
  });

  it("a checkpoint deleted by hand: a warning and a new full in that repository, never an error line", async () => {
    const tip = (await listPoints(usb.backupDir, vm.name)).at(-1) as ListedPoint;
    await must("virsh", [
      "checkpoint-delete",
      "--domain",
      vm.name,
      "--checkpointname",
      tip.checkpoint as string,
    ]);
    await vm.write("vda", 0x91, 80, 1);
    const r = await usb.attempt(["--json", "--quiesce=off"]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\berror:/);
    assert.match(r.stderr, /warn.*taking a new full backup/);
    const doc = JSON.parse(r.stdout) as BackupJson;
    assert.equal(doc.summary.warnings, 1);
    const full = await usb.latest();
    assert.equal(full.level, "full");
    await usb.assertRestores(full);
    // The other repository is not affected.
    await vm.write("vda", 0x92, 81, 1);
    const n = await run(nightly);
    assert.equal(n.level, "inc");
    await nightly.assertRestores(n);
  });
});
