/**
 * The legacy host: Debian 11's stock libvirt 7.0 and QEMU 5.2 (test/hosts/bullseye-up.sh), where
 * virtsnap runs as its users run it there, the single executable (Debian 11's nodejs is 12).
 * auto picks snapshot mode, cbt is refused as bad input, and backup (with --compress and
 * --bandwidth incrementals) / list / verify / restore / prune / consolidate work, every restore
 * proved with `qemu-img compare`.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BULLSEYE, hostScript, inRoot, singleExecutable } from "../lab/hosts.js";
import { identical, type Result } from "../lab/lab.js";
import { host, LegacyDomain } from "../lab/legacy.js";
import type { ListedPoint } from "../lab/points.js";

const vs = (args: string[]): Promise<Result> => inRoot(BULLSEYE, "virtsnap", args);
const ok = (r: Result) => assert.equal(r.exitCode, 0, `${r.stderr}\n${r.stdout}`);

describe("legacy host: libvirt 7.0 / QEMU 5.2, the single executable", () => {
  const work = `/srv/vslg-${randomBytes(4).toString("hex")}`; // inside the root
  const backupDir = path.join(work, "backup");
  const marks = new Map<string, number>();
  let vm: LegacyDomain | undefined;

  const points = async (): Promise<ListedPoint[]> => {
    const r = await vs(["--json", "list", need(vm).name, "-b", backupDir]);
    ok(r);
    return (JSON.parse(r.stdout) as { points: ListedPoint[] }).points;
  };
  /** One backup run; the new point is remembered with the writes made so far. */
  const backup = async (...extra: string[]): Promise<{ point: ListedPoint; run: Result }> => {
    const run = await vs(["backup", need(vm).name, "-b", backupDir, "--quiesce=off", ...extra]);
    ok(run);
    const point = (await points()).at(-1) as ListedPoint;
    if (!marks.has(point.id)) marks.set(point.id, need(vm).mark());
    return { point, run };
  };
  const assertRestores = async (point: ListedPoint) => {
    const to = path.join(work, `restore-${point.id}-${randomBytes(2).toString("hex")}`);
    ok(await vs(["restore", need(vm).name, "-b", backupDir, "--point", point.id, "--to", to]));
    const expected = await need(vm).expectedImage(host(work), marks.get(point.id));
    const restored = host(path.join(to, "vda.qcow2"));
    assert.ok(await identical(expected, restored), `${point.id} (${point.level}) differs`);
    await fs.rm(host(to), { recursive: true, force: true });
  };

  before(async () => {
    const exe = singleExecutable();
    await hostScript("bullseye-up.sh");
    await fs.copyFile(exe, host("/usr/local/bin/virtsnap"));
    await fs.chmod(host("/usr/local/bin/virtsnap"), 0o755);
    await fs.mkdir(host(work), { recursive: true });
    vm = await LegacyDomain.create();
  });
  after(async () => {
    try {
      await vm?.destroy();
      await fs.rm(host(work), { recursive: true, force: true });
      await fs.rm(host("/usr/local/bin/virtsnap"), { force: true }); // the cache keeps no stale build
    } finally {
      await hostScript("bullseye-down.sh");
    }
  });

  it("is the stock Debian 11 stack, with no node, and virtsnap runs there", async () => {
    const which = await inRoot(BULLSEYE, "which", ["node"]);
    assert.equal(which.stdout, "");
    assert.notEqual(which.exitCode, 0);
    const version = await inRoot(BULLSEYE, "virsh", ["version"]);
    assert.match(version.stdout, /libvirt 7\.0\.0/);
    assert.match(version.stdout, /QEMU 5\.2\.0/);
    const v = await vs(["--version"]);
    ok(v);
    assert.match(v.stdout, /\(node v\d+/);
  });

  it("--mode cbt is refused with a one-line reason, exit 2, and status.json says so", async () => {
    const r = await vs(["backup", need(vm).name, "-b", backupDir, "--mode", "cbt"]);
    assert.equal(r.exitCode, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? "", /no backup support; use --mode snapshot/);
    const status = JSON.parse(
      await fs.readFile(host(path.join(backupDir, need(vm).name, "status.json")), "utf8"),
    );
    assert.equal(status.result, "failed");
    assert.match(status.error, /no backup support/);
  });

  it("auto picks snapshot mode; full, inc, --compress inc (zlib: no zstd in QEMU 5.2), --bandwidth inc; each restores identical", async () => {
    const d = need(vm);
    await d.write(0x11, 0, 2);
    await d.write(0x22, 5, 1);
    const full = await backup();
    assert.match(full.run.stderr, /no backup API here: using snapshot mode/);
    await d.write(0x33, 1, 1);
    await d.write(0x44, 60, 1);
    const inc = await backup();
    await d.write(0x55, 10, 2);
    const compressed = await backup("--compress");
    assert.match(compressed.run.stderr, /no zstd.*--compress uses zlib/);
    // 2 MiB of one byte written: a compressed layer holds far less (uncompressed: over 2 MiB)
    assert.ok((compressed.point.disks[0]?.bytes ?? 0) < 1024 * 1024, "the layer is not compressed");
    await d.write(0x66, 20, 1);
    const limited = await backup("--bandwidth", "50");
    const all = [full, inc, compressed, limited].map((b) => b.point);
    assert.deepEqual(
      all.map((p) => `${p.mode}/${p.level}`),
      ["snapshot/full", "snapshot/inc", "snapshot/inc", "snapshot/inc"],
    );
    for (const p of all) await assertRestores(p);
  });

  it("a --compress full on QEMU 5.2, then list and verify", async () => {
    const d = need(vm);
    await d.write(0x77, 30, 1);
    const { point } = await backup("--compress", "--level", "full");
    assert.equal(point.level, "full");
    await assertRestores(point);
    const list = await vs(["list", d.name, "-b", backupDir]);
    ok(list);
    assert.ok(list.stdout.includes(point.id), list.stdout);
    ok(await vs(["verify", d.name, "-b", backupDir]));
  });

  it("prune --keep-last 2 merges the rest away; the kept points still restore identical", async () => {
    const d = need(vm);
    await d.write(0x78, 40, 1);
    await backup();
    ok(await vs(["prune", d.name, "-b", backupDir, "--keep-last", "2"]));
    const kept = await points();
    assert.equal(kept.length, 2);
    for (const p of kept) await assertRestores(p);
    ok(await vs(["verify", d.name, "-b", backupDir]));
  });

  it("consolidate --all-layers puts the domain back on its own image; the next backup starts a chain that restores", async () => {
    const d = need(vm);
    assert.notEqual(await d.source(), d.image); // on virtsnap's overlay between backups
    ok(await vs(["consolidate", d.name, "--all-layers"]));
    assert.equal(await d.source(), d.image);
    await d.write(0x79, 50, 1);
    const { point } = await backup();
    assert.equal(point.level, "full");
    await assertRestores(point);
  });
});

describe("legacy host: the default --quiesce on a domain with an agent channel but no agent", () => {
  const work = `/srv/vslg-${randomBytes(4).toString("hex")}`; // inside the root
  const backupDir = path.join(work, "backup");
  let vm: LegacyDomain | undefined;

  before(async () => {
    await hostScript("bullseye-up.sh");
    await fs.copyFile(singleExecutable(), host("/usr/local/bin/virtsnap"));
    await fs.chmod(host("/usr/local/bin/virtsnap"), 0o755);
    await fs.mkdir(host(work), { recursive: true });
    vm = await LegacyDomain.create(64, { agentChannel: true });
  });
  after(async () => {
    try {
      await vm?.destroy();
      await fs.rm(host(work), { recursive: true, force: true });
      await fs.rm(host("/usr/local/bin/virtsnap"), { force: true });
    } finally {
      await hostScript("bullseye-down.sh");
    }
  });

  it("libvirt 7.0's failed freeze: exit 0, the crash-consistent warning, a point that restores identical", async () => {
    const d = need(vm);
    await d.write(0x5a, 0, 2);
    const run = await vs(["backup", d.name, "-b", backupDir]); // no --quiesce: the default, try
    ok(run);
    const said = `${run.stdout}\n${run.stderr}`;
    assert.match(said, /WARNING: .*guest filesystems not frozen .*the point is crash-consistent/);
    assert.match(said, /finished with 1 warning\(s\)/);
    const list = await vs(["--json", "list", d.name, "-b", backupDir]);
    ok(list);
    const [point, ...more] = (JSON.parse(list.stdout) as { points: ListedPoint[] }).points;
    assert.equal(more.length, 0);
    assert.equal(point?.quiesced, false);
    const to = path.join(work, "restore");
    ok(await vs(["restore", d.name, "-b", backupDir, "--point", need(point).id, "--to", to]));
    const expected = await d.expectedImage(host(work));
    assert.ok(await identical(expected, host(path.join(to, "vda.qcow2"))), "the point differs");
  });
});

function need<T>(value: T | undefined): T {
  assert.ok(value, "the legacy domain was not created");
  return value;
}
