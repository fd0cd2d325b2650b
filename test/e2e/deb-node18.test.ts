/**
 * The .deb of `npm run package`, installed with apt in a Debian 12 root that has Debian's own
 * nodejs 18 (test/hosts/bookworm-node18.sh), run against the host's libvirtd 9.0 in both modes;
 * then an upgrade (the same tree with its version + 1) and a purge: a changed conffile is kept,
 * no stray files are left, and a repository is never touched.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BOOKWORM, debPackage, hostScript, inRoot, LAB_WORK, mustInRoot } from "../lab/hosts.js";
import { type LabDomain, must, type Result } from "../lab/lab.js";
import type { Cli } from "../lab/points.js";
import { fullIncRestore } from "../lab/smoke.js";

const cli: Cli = (args, env = {}) => inRoot(BOOKWORM, "virtsnap", args, env);
const apt = (...args: string[]) =>
  inRoot(BOOKWORM, "apt-get", ["-y", "-q", "--no-install-recommends", ...args], {
    DEBIAN_FRONTEND: "noninteractive",
  });
const ok = (r: Result) => assert.equal(r.exitCode, 0, `${r.stderr}\n${r.stdout}`);
const CONFFILE = "/etc/default/virtsnap";
const TIMER_LINK = "/etc/systemd/system/timers.target.wants/virtsnap-backup.timer";
/** One dpkg-query field of the installed virtsnap package. */
const field = (name: string) =>
  inRoot(BOOKWORM, "dpkg-query", ["-W", `-f=\${${name}}`, "virtsnap"]);

/** Every file of the root but the churn of apt/dpkg themselves and the bound/virtual dirs. */
async function rootFiles(): Promise<Set<string>> {
  const skip = [
    "/proc",
    "/run",
    "/tmp",
    "/var/lib/libvirt/images",
    "/srv/virtsnap-lab",
    "/var/cache",
    "/var/lib/apt",
    "/var/lib/dpkg",
    "/var/log",
  ];
  const prune = skip.flatMap((p) => ["-path", p, "-prune", "-o"]);
  const out = await mustInRoot(BOOKWORM, "find", ["/", ...prune, "-print"]);
  return new Set(out.split("\n").filter(Boolean));
}

/** Path, size, mtime and sha256 of every file under a repository. */
async function repoState(dir: string): Promise<string[]> {
  const state: string[] = [];
  for (const rel of (await fs.readdir(dir, { recursive: true })).sort()) {
    const file = path.join(dir, rel);
    const st = await fs.stat(file);
    const sum = st.isFile()
      ? createHash("sha256")
          .update(await fs.readFile(file))
          .digest("hex")
      : "dir";
    state.push(`${rel} ${st.size} ${st.mtimeMs} ${st.mode.toString(8)} ${sum}`);
  }
  return state;
}

describe("the .deb on Debian 12 with Debian's nodejs 18", () => {
  let work = "";
  let version = "";
  let baseline = new Set<string>();
  const domains: LabDomain[] = [];

  before(async () => {
    const deb = debPackage();
    await hostScript("bookworm-node18.sh", "up");
    await inRoot(BOOKWORM, "dpkg", ["--purge", "virtsnap"]); // a run that died before its purge
    baseline = await rootFiles();
    work = await fs.mkdtemp(path.join(LAB_WORK, "deb-"));
    await fs.chmod(work, 0o711);
    await fs.copyFile(deb, path.join(BOOKWORM, "tmp/virtsnap.deb"));
    // the upgrade: the same tree with its version + 1
    const tree = path.join(work, "tree");
    await must("dpkg-deb", ["-R", deb, tree]);
    const control = await fs.readFile(path.join(tree, "DEBIAN/control"), "utf8");
    version = /^Version: (.+)$/m.exec(control)?.[1] ?? "";
    await fs.writeFile(
      path.join(tree, "DEBIAN/control"),
      control.replace(/^Version: .+$/m, `Version: ${version}+1`),
    );
    await must("dpkg-deb", [
      "--root-owner-group",
      "-b",
      tree,
      path.join(BOOKWORM, "tmp/virtsnap-up.deb"),
    ]);
    await fs.rm(tree, { recursive: true });
  });
  after(async () => {
    try {
      for (const vm of domains) await vm.destroy();
      await inRoot(BOOKWORM, "dpkg", ["--purge", "virtsnap"]);
      await fs.rm(path.join(BOOKWORM, TIMER_LINK), { force: true });
      await fs.rm(path.join(BOOKWORM, "tmp/virtsnap.deb"), { force: true });
      await fs.rm(path.join(BOOKWORM, "tmp/virtsnap-up.deb"), { force: true });
      if (work) await fs.rm(work, { recursive: true, force: true });
    } finally {
      await hostScript("bookworm-node18.sh", "down");
    }
  });

  it("installs with apt, and Debian's nodejs 18 package runs it", async () => {
    ok(await apt("install", "/tmp/virtsnap.deb"));
    assert.match(
      (await field("Version")).stdout,
      new RegExp(`^${version.replace(/[.+]/g, "\\$&")}$`),
    );
    assert.match(await mustInRoot(BOOKWORM, "dpkg", ["-S", "/usr/bin/node"]), /^nodejs: /);
    assert.match(await mustInRoot(BOOKWORM, "node", ["--version"]), /^v18\./);
    const conffiles = (await field("Conffiles")).stdout;
    assert.match(conffiles, new RegExp(`${CONFFILE} [0-9a-f]{32}`));
    const v = await cli(["--version"]);
    ok(v);
    assert.match(v.stdout, /\(node v18\.\d+\.\d+\)/);
  });

  it("snapshot mode on the host's libvirtd: full, two incrementals, every point restores identical", async () => {
    await fullIncRestore(cli, "snapshot", work, domains);
  });

  it("cbt mode on the host's libvirtd: full, two incrementals, every point restores identical", async () => {
    await fullIncRestore(cli, "cbt", work, domains);
  });

  it("an upgrade keeps the admin's /etc/default/virtsnap and leaves the repositories as they were", async () => {
    const conf = path.join(BOOKWORM, CONFFILE);
    const changed = `${await fs.readFile(conf, "utf8")}\nVIRTSNAP_BACKUP_DIR=${work}/backup-snapshot # the admin's\n`;
    await fs.writeFile(conf, changed);
    const before = await repoState(work);
    ok(await apt("install", "/tmp/virtsnap-up.deb"));
    assert.equal((await field("Version")).stdout, `${version}+1`);
    assert.equal(await fs.readFile(conf, "utf8"), changed);
    assert.deepEqual(await repoState(work), before);
    for (const mode of ["snapshot", "cbt"]) {
      const dir = path.join(work, `backup-${mode}`);
      const [name] = await fs.readdir(dir);
      ok(await cli(["verify", name as string, "-b", dir]));
    }
    assert.deepEqual(
      await repoState(work),
      before,
      "verify after the upgrade changed the repository",
    );
  });

  it("a remove keeps the admin's conffile; a purge removes every file it brought (the conffile and the timer's enable link too) and no repository file", async () => {
    const before = await repoState(work);
    const conf = path.join(BOOKWORM, CONFFILE);
    const changed = await fs.readFile(conf, "utf8");
    // the admin enabled the timer: the link `systemctl enable` makes (no systemd in this root)
    const link = path.join(BOOKWORM, TIMER_LINK);
    await fs.symlink("/lib/systemd/system/virtsnap-backup.timer", link);
    ok(await apt("remove", "virtsnap"));
    assert.equal(await fs.readFile(conf, "utf8"), changed);
    assert.equal((await inRoot(BOOKWORM, "which", ["virtsnap"])).stdout, "");
    assert.equal(await fs.readlink(link), "/lib/systemd/system/virtsnap-backup.timer"); // remove keeps it
    ok(await apt("purge", "virtsnap"));
    await assert.rejects(fs.lstat(link), { code: "ENOENT" }, `purge left ${TIMER_LINK}`);
    assert.doesNotMatch((await field("Status")).stdout, / (installed|config-files)$/); // purged: not-installed, or unknown
    const now = await rootFiles();
    assert.deepEqual(
      [...now].filter((f) => !baseline.has(f)),
      [],
      "left behind by install + purge",
    );
    assert.deepEqual(
      [...baseline].filter((f) => !now.has(f)),
      [],
      "removed by install + purge",
    );
    assert.deepEqual(await repoState(work), before);
  });
});
