/**
 * The single executable of `npm run package` (dist/pkg/virtsnap-linux-x64) on a host with no
 * `node` at all on PATH, against the host's libvirtd: snapshot and cbt mode, full, incs, restores.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { bare, singleExecutable } from "../lab/hosts.js";
import { type LabDomain, tempDir } from "../lab/lab.js";
import type { Cli } from "../lab/points.js";
import { fullIncRestore } from "../lab/smoke.js";

describe("single executable, no node on PATH", () => {
  let work = "";
  let bin = "";
  let env: Record<string, string>;
  let cli: Cli;
  const domains: LabDomain[] = [];

  before(async () => {
    const exe = singleExecutable();
    work = await tempDir("virtsnap-sea-");
    // only the two programs virtsnap runs: /usr/bin (where this machine's node lives) is not on PATH
    bin = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-sea-bin-"));
    for (const p of ["virsh", "qemu-img"]) await fs.symlink(`/usr/bin/${p}`, path.join(bin, p));
    env = { PATH: `${bin}:/usr/sbin:/sbin`, LC_ALL: "C", HOME: "/root" };
    cli = (args, extra = {}) => bare(exe, args, { ...env, ...extra });
  });
  after(async () => {
    for (const vm of domains) await vm.destroy();
    if (bin) await fs.rm(bin, { recursive: true, force: true });
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it("has no node to lean on, and says its version and the Node inside it", async () => {
    const which = await bare("/usr/bin/which", ["node"], env);
    assert.equal(which.stdout, "");
    assert.notEqual(which.exitCode, 0);
    const v = await cli(["--version"]);
    assert.equal(v.exitCode, 0, v.stderr);
    assert.match(v.stdout, /^virtsnap \d+\.\d+\.\d+.*\(node v\d+\.\d+\.\d+\)/);
  });

  it("snapshot mode: full, two incrementals, every point restores identical", async () => {
    await fullIncRestore(cli, "snapshot", work, domains);
  });

  it("cbt mode: full, two incrementals, every point restores identical", async () => {
    await fullIncRestore(cli, "cbt", work, domains);
  });

  it("with no network at all (unshare --net): version, full, incs, list, restores", async () => {
    // only the loopback device in the new namespace; libvirtd's unix socket is a file, still there
    const unshare = (args: string[], extra: Record<string, string> = {}) =>
      bare("/usr/bin/unshare", ["--net", "--", ...args], { ...env, ...extra });
    const devices = await unshare(["/usr/bin/cat", "/proc/net/dev"]);
    assert.equal(devices.exitCode, 0, devices.stderr);
    assert.deepEqual(
      devices.stdout
        .split("\n")
        .slice(2)
        .map((line) => line.split(":")[0]?.trim()),
      ["lo"],
    );
    const netless: Cli = (args, extra) => unshare([singleExecutable(), ...args], extra);
    const v = await netless(["--version"]);
    assert.equal(v.exitCode, 0, v.stderr);
    const dir = path.join(work, "no-network");
    await fs.mkdir(dir, { mode: 0o711 });
    await fullIncRestore(netless, "snapshot", dir, domains); // lists the points after each backup
  });
});
