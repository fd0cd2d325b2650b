/**
 * A real Linux guest (test/lab/guest.ts): --quiesce against a real qemu-guest-agent, restored points
 * checked as ext4 filesystems, a guest writing during the backup, and a --memory-state resume.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { filesIn, fsState, GuestDomain, rawCopy } from "../lab/guest.js";
import { must, sh, tempDir, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints } from "../lab/points.js";

/** Writes /data/loop/f<i> = "n<i>\n" and appends i to /data/counter, forever. */
const WRITER = `mkdir -p /data/loop; i=0
while :; do echo "n$i" > /data/loop/f$i; echo $i >> /data/counter; i=$((i+1)); sleep 0.05; done`;

describe("a real guest: quiesce, writes during a backup, memory state", () => {
  let guest: GuestDomain;
  let work: string;
  let snapDir: string;
  let cbtDir: string;

  before(async () => {
    work = await tempDir("virtsnap-guest-");
    snapDir = path.join(work, "snap");
    cbtDir = path.join(work, "cbt");
    guest = await GuestDomain.create();
  });

  after(async () => {
    await guest?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  async function backup(
    dir: string,
    ...args: string[]
  ): Promise<{ point: ListedPoint; out: string }> {
    const r = await virtsnap(["backup", guest.name, "-b", dir, ...args]);
    assert.equal(r.exitCode, 0, r.stderr);
    const point = (await listPoints(dir, guest.name)).at(-1) as ListedPoint;
    return { point, out: r.stdout + r.stderr };
  }

  /** The point restored and converted to raw, for the e2fsprogs tools. */
  async function restoredRaw(dir: string, point: ListedPoint): Promise<string> {
    const to = path.join(work, `r-${path.basename(dir)}-${point.id}`);
    const r = await virtsnap(["restore", guest.name, "-b", dir, "--point", point.id, "--to", to]);
    assert.equal(r.exitCode, 0, r.stderr);
    return rawCopy(path.join(to, "vda.qcow2"), path.join(to, "vda.raw"));
  }

  const abc = new Map([
    ["/a.txt", "file a"],
    ["/b.txt", "file b"],
    ["/c.txt", "file c"],
  ]);

  it("--quiesce=required in both modes: marked quiesced, clean fs, exactly the files written before", async () => {
    for (const [f, c] of abc) await guest.write(f, c);
    const snap = await backup(snapDir, "--mode", "snapshot", "--quiesce=required");
    await guest.write("/d.txt", "file d");
    const cbt = await backup(cbtDir, "--mode", "cbt", "--quiesce=required");
    await guest.write("/e.txt", "file e");
    for (const [dir, { point }, files] of [
      [snapDir, snap, abc],
      [cbtDir, cbt, new Map([...abc, ["/d.txt", "file d"]])],
    ] as const) {
      assert.equal(point.quiesced, true, `${point.mode} point marked quiesced`);
      const raw = await restoredRaw(dir, point);
      assert.deepEqual(await fsState(raw), { fsck: 0, needsRecovery: false }, point.mode);
      assert.deepEqual(await filesIn(raw), files, `${point.mode}: files of the point`);
    }
  });

  it("--quiesce=off: reported crash-consistent, the image needs journal recovery", async () => {
    const { point, out } = await backup(snapDir, "--mode", "snapshot", "--quiesce=off");
    assert.equal(point.quiesced, false);
    assert.match(out, /crash-consistent/);
    const raw = await restoredRaw(snapDir, point);
    assert.equal((await fsState(raw)).needsRecovery, true);
  });

  it("a guest writing during the backup: clean after journal replay, every file before the freeze there", async () => {
    await guest.run(`(${WRITER}) >/dev/null 2>&1 &`);
    for (const [dir, mode] of [
      [snapDir, "snapshot"],
      [cbtDir, "cbt"],
    ] as const) {
      await new Promise((r) => setTimeout(r, 1500));
      // Every file up to this one was written before the backup (hence before its freeze).
      const before = Number((await guest.run("tail -n1 /data/counter")).trim());
      const { point } = await backup(dir, "--mode", mode, "--quiesce=required");
      assert.equal(point.quiesced, true);
      const raw = await restoredRaw(dir, point);
      const fixed = await sh("e2fsck", ["-fy", raw]);
      assert.ok(fixed.exitCode <= 1, `${mode}: e2fsck -fy: ${fixed.stdout}`);
      assert.equal((await fsState(raw)).fsck, 0, `${mode}: clean after the replay`);
      const files = await filesIn(raw, "/loop");
      const last = Math.max(...[...files.keys()].map((f) => Number(f.replace("/loop/f", ""))));
      assert.ok(
        last >= before,
        `${mode}: f${before} was written before the backup; last is f${last}`,
      );
      for (let i = 0; i < last; i++)
        assert.equal(files.get(`/loop/f${i}`), `n${i}`, `${mode}: /loop/f${i}`);
      // The last one may have been created and not yet written when the guest froze.
      assert.ok(
        ["", `n${last}`].includes(files.get(`/loop/f${last}`) ?? "?"),
        `${mode}: /loop/f${last}`,
      );
    }
  });

  it("--memory-state restore of a real guest resumes it: uptime and its writing continue", async () => {
    const atBackup = await guest.uptime();
    const counted = Number((await guest.run("tail -n1 /data/counter")).trim());
    const { point } = await backup(snapDir, "--mode", "snapshot", "--memory-state");
    // The original is lost; its folder stays (destroy() removes it at the end).
    await must("virsh", ["destroy", "--domain", guest.name]);
    await must("virsh", ["undefine", "--domain", guest.name, "--checkpoints-metadata"]);
    const to = path.join(work, "resumed");
    const r = await virtsnap([
      "--json",
      "restore",
      guest.name,
      "-b",
      snapDir,
      "--point",
      point.id,
      "--to",
      to,
      "--define",
      guest.name,
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { resumed: boolean }).resumed, true);
    await guest.waitForAgent(60);
    const uptime = await guest.uptime();
    // A fresh boot would be at ~10 s of uptime, with no writer running.
    assert.ok(uptime >= atBackup, `uptime ${uptime} continues from ${atBackup}`);
    const first = Number((await guest.run("tail -n1 /data/counter")).trim());
    await new Promise((res) => setTimeout(res, 1500));
    const second = Number((await guest.run("tail -n1 /data/counter")).trim());
    assert.ok(second > first, `the writer runs on (${first} -> ${second})`);
    assert.ok(first >= counted, `it continues from ${counted} (now ${first})`);
    await fs.rm(to, { recursive: true, force: true });
  });
});
