/** restore never succeeds on damaged data; --instant lends the repository to QEMU read-only. */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { identical, LabDomain, must, sh, tempDir, uniqueName, virtsnap } from "../lab/lab.js";
import { type ListedPoint, PointBook } from "../lab/points.js";

/**
 * The error lines a failed run printed. A checksum runs while the disks are written, so an info
 * line (`disk vda: writing ...`) may come before a damage found by one.
 */
function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /(^|\s)error: /.test(l));
}

/** uid, gid and mode of the repository folder and everything in it. */
async function owners(repo: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const entry of [".", ...(await fs.readdir(repo, { recursive: true }))]) {
    const s = await fs.stat(path.join(repo, entry));
    found.set(entry, `${s.uid}:${s.gid} ${(s.mode & 0o7777).toString(8)}`);
  }
  return found;
}

/** Runs a shell snippet as QEMU's user, with none of root's groups. */
function asQemu(script: string) {
  return sh("setpriv", [
    "--reuid=libvirt-qemu",
    "--regid=libvirt-qemu",
    "--clear-groups",
    "sh",
    "-c",
    script,
  ]);
}

describe("restore checks every file it reads; --instant never lets QEMU write the repository", () => {
  let vm: LabDomain;
  let work: string;
  let backupDir: string;
  let repo: string;
  let book: PointBook;
  let full: ListedPoint;
  let inc1: ListedPoint;
  let inc2: ListedPoint;
  let incFile: string;
  let pristine: Buffer;
  const made: string[] = [];
  let mount: string | undefined;

  before(async () => {
    work = await tempDir("virtsnap-safety-");
    backupDir = path.join(work, "backups");
    vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
      start: true,
    });
    repo = path.join(backupDir, vm.name);
    book = new PointBook(vm, backupDir, work);
    await vm.write("vda", 0x61, 0, 4);
    full = await book.backup("--mode", "snapshot");
    await vm.write("vda", 0x62, 4, 4);
    inc1 = await book.backup("--mode", "snapshot");
    await vm.write("vda", 0x63, 8, 2);
    inc2 = await book.backup("--mode", "snapshot");
    incFile = path.join(repo, inc1.disks[0]?.file ?? "");
    pristine = await fs.readFile(incFile);
  });

  after(async () => {
    if (mount) await sh("umount", [mount]);
    for (const name of made) {
      await sh("virsh", ["destroy", "--domain", name]);
      await sh("virsh", ["undefine", "--domain", name]);
    }
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** restore of `point`, expected to fail on inc1's file; --to is left as it was. */
  async function refused(point: ListedPoint, reason: RegExp, extra: string[] = []) {
    const absent = path.join(work, `absent-${point.id}`);
    const empty = await fs.mkdtemp(path.join(work, "empty-"));
    for (const to of [absent, empty]) {
      const r = await virtsnap([
        "restore",
        vm.name,
        "-b",
        backupDir,
        "--point",
        point.id,
        "--to",
        to,
        ...extra,
      ]);
      assert.equal(r.exitCode, 1, r.stderr);
      const lines = errorLines(r.stderr);
      assert.equal(lines.length, 1, `one error line, got: ${r.stderr}`);
      const name = path.basename(incFile).replace(/\./g, "\\.");
      assert.match(
        lines[0] ?? "",
        new RegExp(`error: ${name} of point ${inc1.id} is damaged \\(${reason.source}\\)`),
      );
    }
    await assert.rejects(fs.stat(absent), "restore made no folder");
    assert.deepEqual(await fs.readdir(empty), [], "restore left nothing in a folder that existed");
  }

  it("a truncated middle incremental: restore of it and of every later point exits 1, nothing written", async () => {
    await fs.truncate(incFile, Math.floor(pristine.length / 2));
    const size = `size ${Math.floor(pristine.length / 2)}, catalog says ${pristine.length}`;
    await refused(inc2, new RegExp(size));
    await refused(inc1, new RegExp(size));
    const name = uniqueName("vst-dmg");
    const instant = await virtsnap([
      "restore",
      vm.name,
      "-b",
      backupDir,
      "--to",
      path.join(work, "instant-damaged"),
      "--instant",
      name,
    ]);
    made.push(name);
    assert.equal(instant.exitCode, 1, instant.stderr);
    assert.match(instant.stderr, /is damaged \(size/);
    assert.notEqual((await sh("virsh", ["domstate", "--domain", name])).exitCode, 0, "no domain");
    await assert.rejects(fs.stat(path.join(work, "instant-damaged")));

    // The full does not read the damaged file: it restores as it was taken.
    const to = path.join(work, "full");
    const ok = await virtsnap([
      "restore",
      vm.name,
      "-b",
      backupDir,
      "--point",
      full.id,
      "--to",
      to,
    ]);
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.ok(await identical(await book.expected("vda", full), path.join(to, "vda.qcow2")));
  });

  it("one flipped byte, same size: caught by the checksum", async () => {
    const flipped = Buffer.from(pristine);
    const at = flipped.length - 4096;
    flipped[at] = (flipped[at] ?? 0) ^ 0xff;
    await fs.writeFile(incFile, flipped);
    await refused(inc2, /checksum differs from the catalog/);
    await fs.writeFile(incFile, pristine);
    const to = path.join(work, "mended");
    const r = await virtsnap(["restore", vm.name, "-b", backupDir, "--point", inc2.id, "--to", to]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(await identical(await book.expected("vda", inc2), path.join(to, "vda.qcow2")));
  });

  it("a restore that fails half-way (disk full) leaves nothing in --to either", async () => {
    mount = path.join(work, "small");
    await fs.mkdir(mount);
    await must("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount]);
    const inside = path.join(mount, "new", "deeper");
    const base = ["restore", vm.name, "-b", backupDir, "--point", inc2.id, "--to"];
    for (const to of [inside, mount]) {
      const r = await virtsnap([...base, to]);
      assert.equal(r.exitCode, 1, r.stderr);
      assert.match(r.stderr, /No space left on device/);
      assert.deepEqual(await fs.readdir(mount), [], `nothing left after a restore --to ${to}`);
    }
  });

  it("into a file system without O_DIRECT (ramfs): written through the cache, the same image", async () => {
    const ramfs = await fs.mkdtemp(path.join(work, "ramfs-"));
    await must("mount", ["-t", "ramfs", "ramfs", ramfs]);
    try {
      const to = path.join(ramfs, "restored");
      const r = await virtsnap([
        "-v",
        "restore",
        vm.name,
        "-b",
        backupDir,
        "--point",
        inc2.id,
        "--to",
        to,
      ]);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stderr, /has no O_DIRECT: writing through the cache/);
      assert.doesNotMatch(r.stderr, /convert .*-t none/);
      assert.ok(await identical(await book.expected("vda", inc2), path.join(to, "vda.qcow2")));
      assert.deepEqual((await fs.readdir(to)).sort(), ["vda.qcow2", `${vm.name}.xml`].sort());
    } finally {
      await sh("umount", [ramfs]);
    }
  });

  it("a restore elsewhere writes its image past the page cache (-t none)", async () => {
    const to = path.join(work, "direct");
    const r = await virtsnap([
      "-v",
      "restore",
      vm.name,
      "-b",
      backupDir,
      "--point",
      inc2.id,
      "--to",
      to,
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /qemu-img convert -W -m 8 -t none -O qcow2 /);
    assert.ok(await identical(await book.expected("vda", inc2), path.join(to, "vda.qcow2")));
  });

  it("--instant: QEMU reads the repository but cannot write it; owners and modes come back when the domain is gone", async () => {
    const before = await owners(repo);
    const name = uniqueName("vst-lend");
    made.push(name);
    const to = path.join(work, "instant");
    const r = await virtsnap(["restore", vm.name, "-b", backupDir, "--to", to, "--instant", name]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal((await must("virsh", ["domstate", "--domain", name])).trim(), "running");
    const layers = [full, inc1, inc2].map((p) => path.join(repo, p.disks[0]?.file ?? ""));
    const check = async () => {
      for (const file of layers) {
        const read = await asQemu(`head -c 4096 '${file}' > /dev/null`);
        assert.equal(read.exitCode, 0, `QEMU's user reads ${file}: ${read.stderr}`);
        const write = await asQemu(`exec 3>>'${file}'`);
        assert.notEqual(write.exitCode, 0, `QEMU's user must not open ${file} for writing`);
        assert.match(write.stderr, /Permission denied/);
        assert.equal((await fs.stat(file)).uid, 0, "libvirt did not chown it to QEMU's user");
      }
      for (const file of ["virtsnap.json", path.join(inc2.chain, `domain.${inc2.id}.xml`)]) {
        const write = await asQemu(`exec 3>>'${path.join(repo, file)}'`);
        assert.notEqual(write.exitCode, 0, `QEMU's user must not open ${file} for writing`);
      }
    };
    await check();
    // Lent: the layers QEMU's group may read, their folders it may enter; nothing else changed.
    const caps = await must("virsh", ["capabilities"]);
    const qemuGid = Number(/<baselabel type='qemu'>\+\d+:\+(\d+)</.exec(caps)?.[1]);
    const during = await owners(repo);
    const lentDirs = new Set([".", inc2.chain]);
    const lentFiles = new Set([full, inc1, inc2].map((p) => p.disks[0]?.file));
    for (const [entry, was] of before) {
      const [, mode] = was.split(" ");
      if (lentFiles.has(entry)) assert.equal(during.get(entry), `0:${qemuGid} 640`, entry);
      else if (lentDirs.has(entry))
        assert.equal(during.get(entry), `0:${qemuGid} ${mode === "700" ? "710" : mode}`, entry);
      else assert.equal(during.get(entry), was, `${entry} is not lent`);
    }
    // Shut off and started again (a new QEMU opens the files again): still readable, still not writable.
    await must("virsh", ["destroy", "--domain", name]);
    const kept = await virtsnap(["prune", vm.name, "-b", backupDir, "--keep-last", "100"]);
    assert.equal(kept.exitCode, 0, kept.stderr);
    await must("virsh", ["start", "--domain", name]);
    await check();
    assert.ok(await identical(await book.expected("vda", inc2), path.join(to, "vda.qcow2")));

    await must("virsh", ["destroy", "--domain", name]);
    await must("virsh", ["undefine", "--domain", name]);
    // The next run on the repository (the nightly prune) hands the files back.
    const next = await virtsnap(["prune", vm.name, "-b", backupDir, "--keep-last", "100"]);
    assert.equal(next.exitCode, 0, next.stderr);
    assert.deepEqual(await owners(repo), before);
    const verify = await virtsnap(["verify", vm.name, "-b", backupDir]);
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
  });
});
