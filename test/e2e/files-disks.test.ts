/**
 * files/extract on a point with several disks and partitions: vda holds a dos partition table with
 * two ext4 partitions, vdb an ext4 filesystem on the whole disk (made offline, no guest needed).
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ExtractReport } from "../../src/commands/extract.js";
import { GUESTFS_ENV } from "../lab/guest.js";
import { LabDomain, must, tempDir, virtsnap } from "../lab/lab.js";
import { listPoints } from "../lab/points.js";

/** A qcow2 template of a raw image, filled by `make(raw)`. */
async function template(work: string, name: string, make: (raw: string) => Promise<void>) {
  const raw = path.join(work, `${name}.raw`);
  await must("truncate", ["-s", "64M", raw]);
  await make(raw);
  const qcow2 = path.join(work, `${name}.qcow2`);
  await must("qemu-img", ["convert", "-q", "-f", "raw", "-O", "qcow2", raw, qcow2]);
  await fs.rm(raw);
  return qcow2;
}

async function tree(work: string, name: string, files: Record<string, string>) {
  const dir = path.join(work, `tree-${name}`);
  await fs.mkdir(dir, { recursive: true });
  for (const [f, c] of Object.entries(files)) await fs.writeFile(path.join(dir, f), c);
  return dir;
}

describe("files and extract: several disks and partitions", () => {
  let vm: LabDomain;
  let work: string;
  let backupDir: string;
  let point: string;
  const cli = (...args: string[]) => virtsnap(args, GUESTFS_ENV);

  before(async () => {
    work = await tempDir("virtsnap-files-disks-");
    backupDir = path.join(work, "backups");
    const vda = await template(work, "vda", async (raw) => {
      await must("sh", ["-c", `printf 'label: dos\\n,24M,L\\n,,L\\n' | sfdisk -q "$1"`, "sh", raw]);
      const p1 = await tree(work, "p1", { "one.txt": "partition one" });
      const p2 = await tree(work, "p2", { "two.txt": "partition two" });
      // sfdisk's layout: 1 MiB gap, 24 MiB, then the rest (39 MiB).
      await must("mkfs.ext4", ["-q", "-F", "-E", "offset=1048576", "-d", p1, raw, "24576k"]);
      await must("mkfs.ext4", [
        "-q",
        "-F",
        "-E",
        `offset=${25 * 1048576}`,
        "-d",
        p2,
        raw,
        "39936k",
      ]);
    });
    const vdb = await template(work, "vdb", async (raw) => {
      await must("mkfs.ext4", [
        "-q",
        "-F",
        "-d",
        await tree(work, "b", { "b.txt": "disk b" }),
        raw,
      ]);
    });
    vm = await LabDomain.create({
      start: false,
      disks: [
        { target: "vda", format: "qcow2", sizeMiB: 64, backing: vda },
        { target: "vdb", format: "qcow2", sizeMiB: 64, backing: vdb },
      ],
    });
    const r = await virtsnap(["backup", vm.name, "-b", backupDir, "--mode", "snapshot"]);
    assert.equal(r.exitCode, 0, r.stderr);
    point = (await listPoints(backupDir, vm.name)).at(-1)?.id as string;
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("FILESYSTEM:/path and --disk take files from two partitions and another disk in one run", async () => {
    const to = path.join(work, "out");
    const r = await cli(
      "--json",
      "extract",
      vm.name,
      "-b",
      backupDir,
      "--point",
      point,
      "--disk",
      "vdb",
      "/dev/sda1:/one.txt",
      "/dev/sda2:/two.txt",
      "/b.txt",
      "--to",
      to,
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const report = JSON.parse(r.stdout) as ExtractReport;
    assert.deepEqual(
      report.extracted.map((e) => e.filesystem),
      ["/dev/sda1", "/dev/sda2", "/dev/sdb"],
    );
    assert.equal(await fs.readFile(path.join(to, "one.txt"), "utf8"), "partition one");
    assert.equal(await fs.readFile(path.join(to, "two.txt"), "utf8"), "partition two");
    assert.equal(await fs.readFile(path.join(to, "b.txt"), "utf8"), "disk b");
  });

  it("a plain path on several filesystems: exit 2, one line that lists them", async () => {
    const ambiguous = await cli("files", vm.name, "-b", backupDir, "--point", point, "/");
    assert.equal(ambiguous.exitCode, 2);
    assert.match(
      ambiguous.stderr,
      /several filesystems \(\/dev\/sda1 ext4 on vda, \/dev\/sda2 ext4 on vda, \/dev\/sdb ext4 on vdb\)/,
    );
    assert.equal(ambiguous.stderr.trim().split("\n").length, 1);
  });
});
