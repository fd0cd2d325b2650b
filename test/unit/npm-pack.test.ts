/**
 * `npm pack` + `npm install -g` as a user does it: the tarball of `npm run package`'s tree,
 * installed offline into a temporary prefix (it has no dependencies, so npm needs no registry),
 * runs from the prefix's bin/ and brings the man pages and contrib/ files. No libvirt needed.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "virtsnap-npm-pack-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** npm with its cache in the scratch dir, so the user's ~/.npm is neither read nor written. */
function npm(args: string[]): string {
  return execFileSync("npm", [...args, "--cache", path.join(scratch, "cache")], {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

describe("npm pack, then npm install -g of the tarball", () => {
  it("installs offline into a prefix and runs from its bin/, with man pages and contrib files", () => {
    const bundle = path.join(ROOT, "dist/pkg/virtsnap.cjs");
    assert.ok(fs.existsSync(bundle), `${bundle} is missing: run npm run package`);
    // --ignore-scripts: prepack would rebuild dist/ under the other tests' feet
    npm(["pack", "--ignore-scripts", "--silent", "--pack-destination", scratch]);
    const tarball = path.join(scratch, `virtsnap-${VERSION}.tgz`);
    assert.ok(fs.existsSync(tarball), "npm pack wrote no tarball");
    const prefix = path.join(scratch, "prefix");
    npm(["install", "-g", "--offline", "--no-audit", "--no-fund", "--prefix", prefix, tarball]);

    const bin = path.join(prefix, "bin/virtsnap");
    const run = (...args: string[]) => spawnSync(bin, args, { encoding: "utf8", cwd: scratch });
    const version = run("--version");
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout, `virtsnap ${VERSION} (node ${process.version})\n`);
    const failpoints = run("debug", "failpoints");
    assert.equal(failpoints.status, 0, failpoints.stderr);
    assert.match(failpoints.stdout, /^backup\.snapshot: /m);
    const help = run("info", "--help");
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: virtsnap info /m);

    const installed = path.join(prefix, "lib/node_modules/virtsnap");
    for (const file of [
      "share/man/man1/virtsnap.1",
      "share/man/man8/virtsnap-nightly.8",
      "lib/node_modules/virtsnap/contrib/virtsnap-nightly",
      "lib/node_modules/virtsnap/contrib/systemd/virtsnap-backup.service",
      "lib/node_modules/virtsnap/contrib/systemd/virtsnap-backup.timer",
      "lib/node_modules/virtsnap/contrib/cron/virtsnap",
      "lib/node_modules/virtsnap/contrib/default/virtsnap",
      "lib/node_modules/virtsnap/dist/pkg/virtsnap.bash-completion",
      "lib/node_modules/virtsnap/dist/pkg/THIRD-PARTY-LICENSES",
    ])
      assert.ok(fs.existsSync(path.join(prefix, file)), `not installed: ${file}`);
    assert.ok(
      fs.statSync(path.join(installed, "contrib/virtsnap-nightly")).mode & 0o100,
      "contrib/virtsnap-nightly lost its execute bit",
    );
    assert.equal(
      fs.readFileSync(path.join(installed, "dist/pkg/virtsnap.cjs"), "utf8"),
      fs.readFileSync(bundle, "utf8"),
    );
    // what runs is the bundle alone: nothing else of the tree came along
    assert.equal(fs.existsSync(path.join(installed, "node_modules")), false);
    assert.equal(fs.existsSync(path.join(installed, "dist/src")), false);
  });
});
