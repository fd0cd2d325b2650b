/**
 * `files` and `extract` on three points of one cbt chain of a real guest (test/lab/guest.ts), read
 * through libguestfs from the repository without writing it; then `restore --define` of the guest.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { FileEntry, FilesReport } from "../../src/commands/files.js";
import { GUESTFS_ENV, GuestDomain } from "../lab/guest.js";
import { sh, sha256, tempDir, uniqueName, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints } from "../lab/points.js";

describe("a real guest: files and extract from any point, restore --define", () => {
  let guest: GuestDomain;
  let work: string;
  let backupDir: string;
  const points: ListedPoint[] = [];
  const copy = uniqueName("vsg-copy");

  before(async () => {
    work = await tempDir("virtsnap-guest-files-");
    backupDir = path.join(work, "backups");
    guest = await GuestDomain.create();
  });

  after(async () => {
    await sh("virsh", ["destroy", "--domain", copy]);
    await sh("virsh", ["undefine", "--domain", copy]);
    await guest?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** sha256 of every file in the domain's repository folder. */
  async function repoSums(): Promise<Map<string, string>> {
    const dir = path.join(backupDir, guest.name);
    const sums = new Map<string, string>();
    for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true }))
      if (e.isFile()) {
        // parentPath is Node >= 18.20 / 20.12; path is its older name.
        const file = path.join(e.parentPath ?? e.path, e.name);
        sums.set(file, await sha256(file));
      }
    return sums;
  }

  const cli = (...args: string[]) => virtsnap(args, GUESTFS_ENV);

  async function listing(point: ListedPoint, dir = "/"): Promise<Map<string, FileEntry>> {
    const r = await cli("--json", "files", guest.name, "-b", backupDir, "--point", point.id, dir);
    assert.equal(r.exitCode, 0, r.stderr);
    const report = JSON.parse(r.stdout) as FilesReport;
    assert.equal(report.filesystem, "/dev/sda");
    return new Map(report.entries.map((e) => [e.name, e]));
  }

  it("three points of one chain: full, inc, inc with a file deleted and one changed", async () => {
    await guest.write("/a.txt", "a1");
    await guest.write("/b.txt", "b1");
    await guest.write("/c.txt", "c1");
    await guest.write("/dir/x.txt", "x1");
    await guest.run(
      "cd /data/dir && chown 1234:567 x.txt && chmod 0640 x.txt && touch -d '2020-01-02 03:04:05' x.txt && ln -s x.txt link && ln -s nowhere dangling && echo s > suid && chmod 6755 suid && mkdir /data/sp && mkfifo /data/sp/fifo && echo ok > /data/sp/ok.txt && sync",
    );
    const take = async () => {
      const r = await virtsnap([
        "backup",
        guest.name,
        "-b",
        backupDir,
        "--mode",
        "cbt",
        "--quiesce=required",
      ]);
      assert.equal(r.exitCode, 0, r.stderr);
      points.push((await listPoints(backupDir, guest.name)).at(-1) as ListedPoint);
    };
    await take();
    await guest.write("/b.txt", "b2 changed");
    await guest.write("/e.txt", "e2");
    await take();
    await guest.run("rm /data/c.txt && sync");
    await guest.write("/a.txt", "a3 changed too");
    await take();
    assert.deepEqual(
      points.map((p) => [p.level, p.chain]),
      [
        ["full", points[0]?.chain],
        ["inc", points[0]?.chain],
        ["inc", points[0]?.chain],
      ],
    );
  });

  it("files shows each point's own version; extract copies with owners, modes and times", async () => {
    const before = await repoSums();
    const [full, inc, last] = points as [ListedPoint, ListedPoint, ListedPoint];

    const root1 = await listing(full);
    assert.deepEqual([...root1.keys()].sort(), [
      "a.txt",
      "b.txt",
      "c.txt",
      "dir",
      "lost+found",
      "sp",
    ]);
    assert.equal(root1.get("b.txt")?.size, 2);
    assert.equal(root1.get("dir")?.type, "directory");
    const root2 = await listing(inc);
    assert.deepEqual([...root2.keys()].sort(), [
      "a.txt",
      "b.txt",
      "c.txt",
      "dir",
      "e.txt",
      "lost+found",
      "sp",
    ]);
    assert.equal(root2.get("a.txt")?.size, 2);
    assert.equal(root2.get("b.txt")?.size, "b2 changed".length);
    const root3 = await listing(last);
    assert.deepEqual([...root3.keys()].sort(), [
      "a.txt",
      "b.txt",
      "dir",
      "e.txt",
      "lost+found",
      "sp",
    ]);
    assert.equal(root3.get("a.txt")?.size, "a3 changed too".length);
    assert.equal(root3.get("b.txt")?.size, "b2 changed".length);

    const out2 = path.join(work, "out-inc");
    const r2 = await cli(
      "extract",
      guest.name,
      "-b",
      backupDir,
      "--point",
      inc.id,
      "/a.txt",
      "/b.txt",
      "/dir",
      "--to",
      out2,
    );
    assert.equal(r2.exitCode, 0, r2.stderr);
    assert.equal(await fs.readFile(path.join(out2, "a.txt"), "utf8"), "a1");
    assert.equal(await fs.readFile(path.join(out2, "b.txt"), "utf8"), "b2 changed");
    assert.equal(await fs.readFile(path.join(out2, "dir/x.txt"), "utf8"), "x1");
    assert.equal(await fs.readlink(path.join(out2, "dir/link")), "x.txt");
    const x = await fs.stat(path.join(out2, "dir/x.txt"));
    assert.deepEqual([x.uid, x.gid, x.mode & 0o7777], [1234, 567, 0o640]);
    assert.equal(x.mtime.toISOString(), new Date("2020-01-02T03:04:05Z").toISOString());
    const suid = await fs.stat(path.join(out2, "dir/suid"));
    assert.deepEqual([suid.uid, suid.mode & 0o7777], [0, 0o755], "set-uid/gid bits dropped");
    assert.deepEqual((await fs.readdir(out2)).sort(), ["a.txt", "b.txt", "dir"], "no staging left");

    const oneLine = (stderr: string) => assert.equal(stderr.trim().split("\n").length, 1, stderr);
    const outSp = path.join(work, "out-sp");
    const sp = await cli(
      "extract",
      guest.name,
      "-b",
      backupDir,
      "--point",
      inc.id,
      "/sp",
      "--to",
      outSp,
    );
    assert.equal(sp.exitCode, 2, sp.stderr);
    oneLine(sp.stderr);
    assert.match(sp.stderr, /\/sp holds 1 special file\(s\) \(\/sp\/fifo is a fifo\)/);
    assert.equal(await fs.stat(path.join(outSp, "sp")).catch(() => undefined), undefined);

    const nope = await cli("files", guest.name, "-b", backupDir, "--point", inc.id, "/nope");
    assert.equal(nope.exitCode, 2, nope.stderr);
    oneLine(nope.stderr);
    assert.match(nope.stderr, /\/nope does not exist in point/);

    const out3 = path.join(work, "out-last");
    const missing = await cli(
      "extract",
      guest.name,
      "-b",
      backupDir,
      "--point",
      last.id,
      "/a.txt",
      "/c.txt",
      "--to",
      out3,
    );
    assert.equal(missing.exitCode, 2, missing.stderr);
    assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
    assert.match(missing.stderr, /\/c\.txt does not exist in point/);
    assert.equal(await fs.stat(path.join(out3, "a.txt")).catch(() => undefined), undefined);

    const r3 = await cli(
      "extract",
      guest.name,
      "-b",
      backupDir,
      "--point",
      last.id,
      "/a.txt",
      "/dir/dangling",
      "/dir/suid",
      "--to",
      out3,
    );
    assert.equal(r3.exitCode, 0, r3.stderr);
    assert.equal(await fs.readFile(path.join(out3, "a.txt"), "utf8"), "a3 changed too");
    assert.equal(
      await fs.readlink(path.join(out3, "dangling")),
      "nowhere",
      "a dangling link exists",
    );
    assert.equal((await fs.stat(path.join(out3, "suid"))).mode & 0o7777, 0o755);
    const a = await fs.stat(path.join(out3, "a.txt"));
    assert.equal(a.mode & 0o7777, root3.get("a.txt")?.mode);
    assert.equal(a.mtime.toISOString().slice(0, 19), root3.get("a.txt")?.mtime.slice(0, 19));

    assert.deepEqual(await repoSums(), before, "the repository is unchanged");
  });

  it("restore --define of the guest boots next to the original; its agent reads the point's files", async () => {
    const last = points[2] as ListedPoint;
    const to = path.join(work, "copy");
    const r = await virtsnap([
      "restore",
      guest.name,
      "-b",
      backupDir,
      "--point",
      last.id,
      "--to",
      to,
      "--define",
      copy,
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const restored = GuestDomain.attach(copy, to);
    await restored.start();
    assert.equal(await restored.read("/a.txt"), "a3 changed too");
    assert.equal(await restored.read("/b.txt"), "b2 changed");
    assert.equal((await restored.exec("test -e /data/c.txt")).exitCode, 1);
    assert.equal(await guest.read("/a.txt"), "a3 changed too", "the original runs on");
  });
});
