/** restore --define and --instant: new domains beside the original, the repository untouched. */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  identical,
  LabDomain,
  must,
  sh,
  sha256,
  tempDir,
  uniqueName,
  virtsnap,
} from "../lab/lab.js";
import { type ListedPoint, PointBook } from "../lab/points.js";

async function repoChecksums(dir: string): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const entry of await fs.readdir(dir, { recursive: true })) {
    // --instant's record of the files it lent QEMU (restore-safety.test.ts) is not point data.
    if (entry === "lent-to-qemu.json") continue;
    const file = path.join(dir, entry);
    if ((await fs.stat(file)).isFile()) sums.set(entry, await sha256(file));
  }
  return sums;
}

describe("restore --define / --instant", () => {
  let vm: LabDomain;
  let work: string;
  let backupDir: string;
  let book: PointBook;
  let full: ListedPoint;
  let inc: ListedPoint;
  const made: string[] = [];

  before(async () => {
    work = await tempDir("virtsnap-define-");
    backupDir = path.join(work, "backups");
    vm = await LabDomain.create({
      disks: [
        { target: "vda", format: "qcow2", sizeMiB: 64 },
        { target: "vdb", format: "qcow2", sizeMiB: 32 },
      ],
      cdrom: true,
      start: true,
      extraDisksXml:
        "<interface type='user'><mac address='52:54:00:aa:bb:cc'/><model type='virtio'/></interface>",
    });
    book = new PointBook(vm, backupDir, work);
    await vm.write("vda", 0x51, 0, 4);
    await vm.write("vdb", 0x52, 1, 2);
    full = await book.backup("--mode", "snapshot");
    await vm.write("vda", 0x53, 2, 4);
    inc = await book.backup("--mode", "snapshot");
  });

  after(async () => {
    for (const name of made) {
      await sh("virsh", ["destroy", "--domain", name]);
      await sh("virsh", ["undefine", "--domain", name]);
    }
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("--define registers a copy under a new name: new uuid and MAC, disks in --to, cdrom kept; it starts", async () => {
    const name = uniqueName("vst-def");
    made.push(name);
    const to = path.join(work, "defined");
    const r = await virtsnap([
      "--json",
      "restore",
      vm.name,
      "-b",
      backupDir,
      "--point",
      full.id,
      "--to",
      to,
      "--define",
      name,
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { defined: string }).defined, name);
    const xml = await must("virsh", ["dumpxml", "--domain", name]);
    const original = await must("virsh", ["dumpxml", "--domain", vm.name]);
    const uuid = (x: string) => /<uuid>([^<]+)<\/uuid>/.exec(x)?.[1];
    assert.notEqual(uuid(xml), uuid(original));
    assert.ok(!xml.includes("52:54:00:aa:bb:cc"), "a new MAC address");
    assert.match(xml, /<mac address='52:54:00:/);
    assert.ok(xml.includes(`${to}/vda.qcow2`) && xml.includes(`${to}/vdb.qcow2`));
    assert.match(xml, /device='cdrom'/);
    for (const target of ["vda", "vdb"]) {
      assert.ok(
        await identical(await book.expected(target, full), path.join(to, `${target}.qcow2`)),
        `${target} differs from the point`,
      );
    }
    await must("virsh", ["start", "--domain", name]);
    assert.equal((await must("virsh", ["domstate", "--domain", name])).trim(), "running");
  });

  it("--define into a folder that exists leaves its mode and group; one QEMU cannot enter is refused", async () => {
    const name = uniqueName("vst-def");
    made.push(name);
    const open = path.join(work, "existing");
    await fs.mkdir(open);
    await fs.chmod(open, 0o755);
    const before = await fs.stat(open);
    const base = ["restore", vm.name, "-b", backupDir, "--point", full.id];
    const r = await virtsnap([...base, "--to", open, "--define", name]);
    assert.equal(r.exitCode, 0, r.stderr);
    const after = await fs.stat(open);
    assert.equal(after.mode & 0o7777, 0o755, "the user's folder keeps its mode");
    assert.equal(after.gid, before.gid, "and its group");
    await must("virsh", ["start", "--domain", name]);

    const closed = path.join(work, "closed");
    await fs.mkdir(closed);
    await fs.chmod(closed, 0o700);
    const refused = await virtsnap([...base, "--to", closed, "--define", uniqueName("vst-def")]);
    assert.equal(refused.exitCode, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /QEMU \(uid \d+\) cannot reach .*closed: allow it with 'chmod o\+x/,
    );
    assert.deepEqual(await fs.readdir(closed), [], "nothing written");
    assert.equal((await fs.stat(closed)).mode & 0o7777, 0o700);
  });

  it("refuses a name that exists, --instant without a name, and --instant with raw", async () => {
    const to = path.join(work, "refused");
    const base = ["restore", vm.name, "-b", backupDir, "--to", to];
    const taken = await virtsnap([...base, "--define", vm.name]);
    assert.equal(taken.exitCode, 2);
    assert.match(taken.stderr, /already exists/);
    const noName = await virtsnap([...base, "--instant"]);
    assert.equal(noName.exitCode, 2);
    assert.match(noName.stderr, /--instant needs a name/);
    const raw = await virtsnap([...base, "--instant", "x", "--format", "raw"]);
    assert.equal(raw.exitCode, 2);
    await assert.rejects(fs.stat(to), "nothing was written");
  });

  it("--instant runs within 10 s on overlays; its writes leave the repository byte-identical", async () => {
    const name = uniqueName("vst-inst");
    made.push(name);
    const to = path.join(work, "instant");
    const repo = path.join(backupDir, vm.name);
    const before = await repoChecksums(repo);
    const started = Date.now();
    const r = await virtsnap(["restore", vm.name, "-b", backupDir, "--to", to, "--instant", name]);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal((await must("virsh", ["domstate", "--domain", name])).trim(), "running");
    assert.ok(seconds < 10, `instant recovery took ${seconds} s`);
    console.log(`instant recovery: running after ${seconds.toFixed(2)} s`);
    for (const target of ["vda", "vdb"]) {
      const overlay = path.join(to, `${target}.qcow2`);
      const info = JSON.parse(await must("qemu-img", ["info", "-U", "--output=json", overlay]));
      assert.equal(
        info["full-backing-filename"],
        path.join(repo, inc.disks.find((d) => d.target === target)?.file ?? ""),
      );
      const cmp = await sh("qemu-img", [
        "compare",
        "-U",
        await book.expected(target, inc),
        overlay,
      ]);
      assert.equal(cmp.exitCode, 0, `${target}: ${cmp.stdout}${cmp.stderr}`);
    }
    // The guest writes: the overlay takes it, the repository does not change.
    const xml = await must("virsh", ["dumpxml", "--domain", name]);
    const alias = /<target dev='vda'[\s\S]*?<alias name='([^']+)'/.exec(xml)?.[1];
    const io = await must("virsh", [
      "qemu-monitor-command",
      "--hmp",
      "--domain",
      name,
      `qemu-io -d /machine/peripheral/${alias}/virtio-backend "write -P 0x77 0 8M"`,
    ]);
    assert.equal(io.trim(), "");
    await must("virsh", ["destroy", "--graceful", "--domain", name]);
    const changed = await sh("qemu-img", [
      "compare",
      await book.expected("vda", inc),
      path.join(to, "vda.qcow2"),
    ]);
    assert.equal(changed.exitCode, 1, "the instant domain's write reached its overlay");
    assert.deepEqual(await repoChecksums(repo), before);
    const verify = await virtsnap(["verify", vm.name, "-b", backupDir]);
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);

    // While a domain reads from the repository, prune and rotate must not move its data away
    // (a second chain gives rotate something to remove).
    await book.backup("--mode", "snapshot", "--level", "full");
    const held = await repoChecksums(repo);
    for (const args of [
      ["prune", vm.name, "-b", backupDir, "--keep-last", "1"],
      ["rotate", vm.name, "-b", backupDir, "--keep-chains", "1"],
    ]) {
      const refused = await virtsnap(args);
      assert.equal(refused.exitCode, 1, refused.stderr);
      assert.match(refused.stderr, new RegExp(`domain '${name}' disk vd[ab] reads from ${repo}`));
    }
    assert.deepEqual(await repoChecksums(repo), held);
    // Made independent (it is shut off, so by qemu-img rather than blockpull), it no longer counts.
    for (const target of ["vda", "vdb"])
      await must("qemu-img", [
        "rebase",
        "-q",
        "-f",
        "qcow2",
        "-b",
        "",
        path.join(to, `${target}.qcow2`),
      ]);
    const pruned = await virtsnap(["prune", vm.name, "-b", backupDir, "--keep-last", "1"]);
    assert.equal(pruned.exitCode, 0, pruned.stderr);
    assert.ok(
      await identical(await book.expected("vdb", inc), path.join(to, "vdb.qcow2")),
      "the instant domain's data outlived the prune",
    );
  });
});

describe("restore --define: a domain that runs beside the original", () => {
  let vm: LabDomain;
  let work: string;
  const made: string[] = [];

  before(async () => {
    work = await tempDir("virtsnap-beside-");
    // A serial log, a guest-agent socket and a console socket at fixed paths, as an admin sets them.
    const dir = "/var/lib/libvirt/images";
    const serial = path.join(dir, `${uniqueName("vst-serial")}.log`);
    const agent = `/var/lib/libvirt/qemu/channel/target/${uniqueName("vst-agent")}.sock`;
    const consoleSock = path.join(dir, `${uniqueName("vst-console")}.sock`);
    // Listed first: after() removes them even when the domain fails to start.
    made.push(serial, agent, consoleSock);
    vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 32 }],
      start: true,
      extraDisksXml: `<serial type='file'><source path='${serial}'/><target port='0'/></serial>
        <channel type='unix'><source mode='bind' path='${agent}'/>
          <target type='virtio' name='org.qemu.guest_agent.0'/></channel>
        <serial type='unix'><source mode='bind' path='${consoleSock}'/><target port='1'/></serial>`,
    });
    await vm.write("vda", 0x71, 0, 2);
  });

  after(async () => {
    for (const name of made.filter((m) => !m.startsWith("/"))) {
      await sh("virsh", ["destroy", "--domain", name]);
      await sh("virsh", ["undefine", "--domain", name]);
    }
    await vm?.destroy();
    for (const file of made.filter((m) => m.startsWith("/"))) await fs.rm(file, { force: true });
    await fs.rm(work, { recursive: true, force: true });
  });

  it("a serial log, agent socket and console socket of its own: it starts while the original runs", async () => {
    const backupDir = path.join(work, "backups");
    const book = new PointBook(vm, backupDir, work);
    const point = await book.backup("--mode", "snapshot", "--quiesce=off");
    const name = uniqueName("vst-beside");
    made.push(name);
    const to = path.join(work, "beside");
    const r = await virtsnap(["restore", vm.name, "-b", backupDir, "--to", to, "--define", name]);
    assert.equal(r.exitCode, 0, r.stderr);
    await must("virsh", ["start", "--domain", name]);
    for (const domain of [vm.name, name])
      assert.equal((await must("virsh", ["domstate", "--domain", domain])).trim(), "running");
    const xml = await must("virsh", ["dumpxml", "--domain", name]);
    const original = await must("virsh", ["dumpxml", "--domain", vm.name]);
    const serialOf = (x: string) => /<serial type='file'>\s*<source path='([^']+)'/.exec(x)?.[1];
    const agentOf = (x: string) =>
      /<channel type='unix'>\s*<source mode='bind' path='([^']+)'/.exec(x)?.[1];
    const serial = serialOf(xml) ?? "";
    assert.equal(path.dirname(serial), to, `the copy's serial log is in --to: ${serial}`);
    assert.ok((await fs.stat(serial)).isFile(), "virtlogd writes it");
    assert.notEqual(agentOf(xml), agentOf(original), "an agent socket of its own");
    assert.ok(agentOf(xml), "libvirt made one");
    const consoleOf = (x: string) =>
      /<serial type='unix'>\s*<source mode='bind' path='([^']+)'/.exec(x)?.[1];
    assert.equal(path.dirname(consoleOf(xml) ?? ""), to, "its console socket is in --to");
    assert.ok(await identical(await book.expected("vda", point), path.join(to, "vda.qcow2")));
  });
});
