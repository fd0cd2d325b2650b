import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { lockDomain } from "../../src/lock.js";
import { silentLog } from "../../src/log.js";
import { identical, LabDomain, must, sh, tempDir, uniqueName, virtsnap } from "../lab/lab.js";

function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  return lines[0] as string;
}

async function catalogPoints(backupDir: string, name: string): Promise<number> {
  try {
    const text = await fs.readFile(path.join(backupDir, name, "virtsnap.json"), "utf8");
    return (JSON.parse(text) as { points: unknown[] }).points.length;
  } catch {
    return 0;
  }
}

describe("bad input and hostile conditions", () => {
  let vm: LabDomain;
  let work: string;
  const mounts: string[] = [];

  before(async () => {
    work = await tempDir("virtsnap-bad-");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }] });
    await vm.write("vda", 0x51, 0, 16);
  });

  after(async () => {
    for (const m of mounts) await sh("umount", [m]);
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  async function tmpfs(name: string, options: string): Promise<string> {
    const dir = path.join(work, name);
    await fs.mkdir(dir);
    await must("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]);
    mounts.push(dir);
    return dir;
  }

  it("unknown domain: exit 2 with one line", async () => {
    const name = uniqueName("nosuch");
    const r = await virtsnap(["backup", name, "-b", work]);
    assert.equal(r.exitCode, 2);
    assert.match(oneLine(r.stderr), new RegExp(`domain '${name}' does not exist`));
  });

  it("several domains, one unknown: the others are backed up, exit 3, the summary names the failure", async () => {
    const missing = uniqueName("nosuch");
    const dir = path.join(work, "fleet");
    const r = await virtsnap(["--json", "backup", vm.name, missing, "-b", dir]);
    assert.equal(r.exitCode, 3, r.stderr);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      domains: { domain: string; status: string; error?: string }[];
    };
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.domains.map((d) => [d.domain, d.status]),
      [
        [vm.name, "ok"],
        [missing, "failed"],
      ],
    );
    assert.match(report.domains[1]?.error ?? "", /does not exist/);
    assert.equal(await catalogPoints(dir, vm.name), 1);
  });

  it("usage errors: exit 2 (no backup dir, bad --keep-chains, unknown option)", async () => {
    const noDir = await virtsnap(["backup", vm.name], { VIRTSNAP_BACKUP_DIR: "" });
    assert.equal(noDir.exitCode, 2);
    assert.match(oneLine(noDir.stderr), /no backup directory/);
    const keep = await virtsnap(["rotate", vm.name, "-b", work, "--keep-chains", "0"]);
    assert.equal(keep.exitCode, 2);
    const opt = await virtsnap(["backup", vm.name, "-b", work, "--no-such-flag"]);
    assert.equal(opt.exitCode, 2);
    assert.match(oneLine(opt.stderr), /unknown option/);
    const nothing = await virtsnap(["list", vm.name, "-b", work]);
    assert.equal(nothing.exitCode, 2);
  });

  it("read-only backup dir: exit 1, no point, domain untouched", async () => {
    const ro = await tmpfs("ro", "ro,size=8m");
    const before = await vm.chain("vda");
    const r = await virtsnap(["backup", vm.name, "-b", ro]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /cannot write backups into .*EROFS/);
    assert.deepEqual(await vm.chain("vda"), before);
    assert.equal(await catalogPoints(ro, vm.name), 0);
  });

  it("target full in the middle of the copy: exit 1, overlay merged back, no point, nothing partial", async () => {
    const small = await tmpfs("small", "size=4m");
    const before = await vm.chain("vda");
    const r = await virtsnap(["backup", vm.name, "-b", small, "--mode", "snapshot"]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /No space left on device/);
    assert.deepEqual(await vm.chain("vda"), before, "live chain is as before the run");
    const overlaysBefore = before.filter((f) => f.includes(".virtsnap-"));
    assert.deepEqual(await vm.overlayFiles(), overlaysBefore, "the run's new overlay is gone");
    assert.equal(await catalogPoints(small, vm.name), 0);
    const left = await fs.readdir(small, { recursive: true });
    assert.deepEqual(
      left.filter((f) => f.endsWith(".partial") || f.endsWith(".qcow2")),
      [],
    );
    // The guest's data is all still there: a backup to a roomy dir restores it exactly.
    const roomy = path.join(work, "roomy");
    const ok = await virtsnap(["backup", vm.name, "-b", roomy]);
    assert.equal(ok.exitCode, 0, ok.stderr);
    const to = path.join(work, "restored");
    assert.equal((await virtsnap(["restore", vm.name, "-b", roomy, "--to", to])).exitCode, 0);
    assert.ok(await identical(await vm.expectedImage("vda", work), path.join(to, "vda.qcow2")));
  });

  for (const mode of ["snapshot", "cbt"]) {
    it(`${mode} mode, --quiesce without a guest agent: exit 1, clear message, no point, chain as before`, async () => {
      const dir = path.join(work, `quiesce-${mode}`);
      const before = await vm.chain("vda");
      const checkpoints = () => must("virsh", ["checkpoint-list", "--domain", vm.name, "--name"]);
      const checkpointsBefore = await checkpoints();
      const r = await virtsnap(["backup", vm.name, "-b", dir, "--mode", mode, "--quiesce"]);
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /guest agent is not configured/);
      assert.equal(await catalogPoints(dir, vm.name), 0);
      assert.deepEqual(await vm.chain("vda"), before);
      assert.equal(await checkpoints(), checkpointsBefore, "no checkpoint left by the failed run");
    });
  }

  it("a world-writable lock dir is refused", async () => {
    const open = path.join(work, "open-locks");
    await fs.mkdir(open);
    await fs.chmod(open, 0o777);
    const r = await virtsnap(["backup", vm.name, "-b", path.join(work, "never")], {
      VIRTSNAP_LOCK_DIR: open,
    });
    assert.equal(r.exitCode, 1);
    assert.match(oneLine(r.stderr), /world-writable/);
  });

  it("a second run on a locked domain exits 75 naming the holder; other domains are not blocked", async () => {
    const lockDir = path.join(work, "locks");
    const env = { VIRTSNAP_LOCK_DIR: lockDir };
    const release = await lockDomain(
      { lockDir, uri: "qemu:///system", log: silentLog(), env: {} },
      vm.name,
      "test",
    );
    try {
      const r = await virtsnap(
        ["-c", "qemu:///system", "backup", vm.name, "-b", path.join(work, "locked")],
        env,
      );
      assert.equal(r.exitCode, 75);
      assert.match(oneLine(r.stderr), new RegExp(`locked by pid ${process.pid}`));
      const other = await virtsnap(
        ["-c", "qemu:///system", "consolidate", uniqueName("other")],
        env,
      );
      assert.equal(
        other.exitCode,
        2,
        "another domain is not blocked by this lock (it fails only as unknown)",
      );
    } finally {
      await release();
    }
    const after = await virtsnap(
      ["-c", "qemu:///system", "backup", vm.name, "-b", path.join(work, "locked")],
      env,
    );
    assert.equal(after.exitCode, 0, after.stderr);
  });
});

describe("names with spaces, quotes and unicode", () => {
  let vm: LabDomain;
  let work: string;

  before(async () => {
    work = await tempDir("virtsnap-names-");
    vm = await LabDomain.create({
      name: `${uniqueName()} it's "quoted" ünï`,
      subdir: "my disks; $(touch x)",
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 32, file: `disk 'one' "two".qcow2` }],
    });
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  for (const [mode, liveLayers] of [
    ["snapshot", 2],
    ["cbt", 1],
  ] as const) {
    it(`${mode} mode: backs up twice and restores identically`, async () => {
      const backupDir = path.join(work, `back ups ${mode}`);
      const backup = () => virtsnap(["--json", "backup", vm.name, "-b", backupDir, "--mode", mode]);
      await vm.write("vda", 0x61, 0, 2);
      assert.equal((await backup()).exitCode, 0);
      await vm.write("vda", 0x62, 1, 2);
      const r = await backup();
      assert.equal(r.exitCode, 0, r.stderr);
      const result = (JSON.parse(r.stdout) as { domains: { level: string; mode: string }[] })
        .domains[0];
      assert.deepEqual([result?.mode, result?.level], [mode, "inc"]);
      const to = path.join(work, `re stored ${mode}`);
      const restored = await virtsnap(["restore", vm.name, "-b", backupDir, "--to", to]);
      assert.equal(restored.exitCode, 0, restored.stderr);
      assert.ok(await identical(await vm.expectedImage("vda", work), path.join(to, "vda.qcow2")));
      assert.equal((await vm.chain("vda")).length, liveLayers);
    });
  }
});
