/**
 * What ships (scripts/bundle.mjs, man.mjs, completion.mjs, build-deb): the man page and the bash
 * completion name every command and option that --help has; the bundle runs alone, with no
 * node_modules near it; the .deb (after `npm run package`) holds what a host needs and lintian
 * finds no error in it. Runs programs (node, bash, dpkg-deb, lintian) but needs no libvirt.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/program.js";
import { EXIT } from "../../src/errors.js";
import { freshDeb, freshSingleExecutable } from "../lab/artifacts.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "virtsnap-packaging-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Every command (as "debug failpoints") with the long options --help shows for it. */
function commands(cmd: Command, prefix: string[] = []): { name: string; options: string[] }[] {
  return cmd.commands.flatMap((c) => {
    const name = [...prefix, c.name()];
    const options = c.options.map((o) => o.long).filter((l): l is string => Boolean(l));
    return [{ name: name.join(" "), options }, ...commands(c, name)];
  });
}

function generate(script: string): string {
  const out = path.join(scratch, path.basename(script));
  execFileSync(process.execPath, [path.join(ROOT, "scripts", script), out]);
  return fs.readFileSync(out, "utf8");
}

const roff = (text: string) => text.replace(/-/g, "\\-");
const escapeRe = (text: string) => text.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
/** `--all` as a whole word in roff (not the start of `\-\-all\-running`). */
const word = (text: string) => new RegExp(`${escapeRe(text)}(?!\\w|\\\\-)`);

describe("man page and completion, from the program that prints --help", () => {
  const all = commands(buildProgram());

  it("the man page has every command and every option", () => {
    const man = generate("man.mjs");
    for (const c of all.filter((c) => c.name !== "debug")) {
      assert.ok(man.includes(`.SS "virtsnap ${roff(c.name)} `), `no section for ${c.name}`);
      const section = man.split(`.SS "virtsnap ${roff(c.name)} `)[1]?.split(".SS")[0] ?? "";
      const terms = section.split(".TP\n").map((item) => item.split("\n")[0]);
      for (const o of c.options)
        assert.ok(
          terms.some((t) => word(roff(o)).test(t ?? "")),
          `${c.name} ${o}`,
        );
    }
    for (const section of ["EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES"])
      assert.ok(man.includes(`.SH ${section}`), section);
    assert.match(man, new RegExp(`^\\.TH VIRTSNAP 1 "[0-9-]+" "virtsnap ${VERSION}"`));
  });

  it("the man page has every exit code, --warnings-exit, an example of every command, virtsnap-nightly(8)", () => {
    const man = generate("man.mjs");
    const section = (name: string) => man.split(`.SH ${name}\n`)[1]?.split("\n.SH ")[0] ?? "";
    const codes = section("EXIT STATUS")
      .split(".TP\n")
      .map((item) => /^\\fB(\w+)\\fR/.exec(item)?.[1]);
    for (const code of [...Object.values(EXIT), 130, 143])
      assert.ok(codes.includes(String(code)), `exit ${code} is not under EXIT STATUS`);
    assert.match(section("EXIT STATUS"), /\\-\\-warnings\\-exit/);
    const examples = section("EXAMPLES");
    for (const c of all.filter((c) => !c.name.startsWith("debug")))
      assert.match(
        examples,
        new RegExp(`^\\\\fBvirtsnap (\\S+ )*${escapeRe(roff(c.name))} `, "m"),
        c.name,
      );
    assert.match(section("SEE ALSO"), /\\fBvirtsnap\\-nightly\\fR\(8\)/);
    for (const file of [
      "journal.json",
      "virtsnap.json",
      "status.json",
      "log/",
      "lent\\-to\\-qemu.json",
    ])
      assert.ok(section("FILES").includes(`DIR/DOMAIN/${file}`), file);
    assert.ok(section("FILES").includes("/var/lib/virtsnap/overlays/"));
  });

  it("the completion is bash and offers every command and option", () => {
    const completion = generate("completion.mjs");
    execFileSync("bash", ["-n", path.join(scratch, "completion.mjs")]);
    for (const c of all) {
      assert.ok(completion.includes(`    "${c.name}")`), `no case for ${c.name}`);
      const arm = completion.split(`    "${c.name}")`)[1]?.split("      ;;")[0] ?? "";
      const offered = /cur == -\* \]\]; then COMPREPLY=\(\$\(compgen -W "([^"]*)"/.exec(arm)?.[1];
      for (const o of c.options) assert.ok(offered?.split(" ").includes(o), `${c.name} ${o}`);
    }
  });
});

describe("the bundle", () => {
  it("runs alone, with no node_modules near it, and says its version and Node's", () => {
    const copy = path.join(scratch, "virtsnap.cjs");
    fs.copyFileSync(path.join(ROOT, "dist/pkg/virtsnap.cjs"), copy);
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [copy, ...args], { encoding: "utf8", cwd: scratch });
    assert.equal(run("--version").stdout, `virtsnap ${VERSION} (node ${process.version})\n`);
    const failpoints = run("debug", "failpoints");
    assert.equal(failpoints.status, 0, failpoints.stderr);
    assert.match(failpoints.stdout, /^backup\.snapshot: /m);
    const bad = run("list");
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trim().split("\n").length, 1);
  });
});

describe("package.json", () => {
  it('has nothing but node in engines (its comment is a top-level "//" key)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    assert.deepEqual(Object.keys(pkg.engines), ["node"]);
    assert.match(pkg["//"], /^engines: /);
  });
});

describe("virtsnap-nightly(8)", () => {
  it("names the exit statuses the script's header names", () => {
    const codes = (text: string, where: string) => {
      const list = /the backup's \(([\d, ]+)[;)]/i.exec(text)?.[1];
      assert.ok(list, `no exit statuses in ${where}`);
      return list.split(",").map((c) => c.trim());
    };
    const script = fs.readFileSync(path.join(ROOT, "contrib/virtsnap-nightly"), "utf8");
    const page = fs.readFileSync(path.join(ROOT, "contrib/man/virtsnap-nightly.8"), "utf8");
    const header = codes(/^# Exit status: .*$/m.exec(script)?.[0] ?? "", "the script's header");
    assert.deepEqual(codes(page.split(".SH EXIT STATUS\n")[1] ?? "", "the page"), header);
    assert.ok(header.includes(String(EXIT.usage)), "the header forgets exit 2");
  });
});

describe("README", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

  it("names the artifacts with package.json's version", () => {
    const names = [...readme.matchAll(/virtsnap[_-](\d[\w.~+-]*?)(?:_all\.deb|\.tgz)\b/g)];
    assert.ok(names.length >= 2, "README names no .deb or npm tarball");
    for (const [name, version] of names) assert.equal(version, VERSION, name);
  });

  it("says on its first screen how to get the files", () => {
    const screen = readme.split("\n").slice(0, 24).join("\n");
    assert.match(screen, /`npm ci && npm run package`[\s\S]*dist\/pkg\//);
    assert.match(screen, /Node >= 18\.19/);
  });
});

describe("THIRD-PARTY-LICENSES", () => {
  it("names every package inside the bundle, with the license text of its LICENSE file", () => {
    const text = fs.readFileSync(path.join(ROOT, "dist/pkg/THIRD-PARTY-LICENSES"), "utf8");
    const bundle = fs.readFileSync(path.join(ROOT, "dist/pkg/virtsnap.cjs"), "utf8");
    // esbuild heads each module with its path: the packages are read from the bundle itself
    const dirs = new Set(
      [...bundle.matchAll(/^\/\/ (node_modules\/\S+)$/gm)].map(
        (m) => /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(m[1] ?? "")?.[1] as string,
      ),
    );
    const listed = JSON.parse(
      fs.readFileSync(path.join(ROOT, "dist/pkg/bundled-packages.json"), "utf8"),
    );
    assert.equal(dirs.size, listed.length, "bundled-packages.json and the bundle disagree");
    for (const dir of dirs) {
      const meta = JSON.parse(fs.readFileSync(path.join(ROOT, dir, "package.json"), "utf8"));
      const head = `\n${meta.name} ${meta.version} (${meta.license})\n`;
      assert.ok(text.includes(head), `THIRD-PARTY-LICENSES lacks ${meta.name} ${meta.version}`);
      const file = fs.readdirSync(path.join(ROOT, dir)).find((f) => /^licen[cs]e/i.test(f));
      assert.ok(file, `${dir} has no LICENSE file`);
      const license = fs.readFileSync(path.join(ROOT, dir, file), "utf8").trim();
      assert.ok(text.split(head)[1]?.includes(license), `${meta.name}: not its license text`);
    }
  });

  it("ships in the npm tarball and beside the single executable", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    assert.ok(pkg.files.includes("dist/pkg/THIRD-PARTY-LICENSES"));
    const dir = path.dirname(freshSingleExecutable());
    assert.ok(fs.existsSync(path.join(dir, "THIRD-PARTY-LICENSES")));
    assert.ok(fs.existsSync(path.join(dir, "virtsnap-linux-x64.NODE-LICENSE")));
  });
});

describe("the single executable", () => {
  // a missing or stale executable fails each test, saying to run npm run package
  it("is there and was built from the current bundle", () => {
    freshSingleExecutable();
  });

  it("runs with no node on PATH and says which Node it carries", () => {
    const SEA = freshSingleExecutable();
    const env = { PATH: "/usr/sbin:/sbin" }; // the host's node is in /usr/bin
    const run = (...args: string[]) =>
      spawnSync(SEA, args, { encoding: "utf8", env, cwd: scratch });
    assert.match(
      run("--version").stdout,
      new RegExp(`^virtsnap ${VERSION} \\(node v24\\.\\d+\\.\\d+\\)\n$`),
    );
    const failpoints = run("debug", "failpoints");
    assert.equal(failpoints.status, 0, failpoints.stderr);
    assert.match(failpoints.stdout, /^backup\.snapshot: /m);
    const missing = run("backup", "x", "-b", scratch);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /virsh is not installed/);
  });

  it("needs no libatomic (absent on a stock Debian 11)", () => {
    const libs = execFileSync("ldd", [freshSingleExecutable()], { encoding: "utf8" });
    assert.doesNotMatch(libs, /libatomic|not found/);
  });
});

describe("the Debian package", () => {
  // a missing or stale .deb fails each test, saying to run npm run package
  it("is there, named after package.json's version, and holds the current bundle", () => {
    assert.equal(path.basename(freshDeb()), `virtsnap_${VERSION}_all.deb`);
  });

  it("holds the launcher, bundle, docs, units and conffile, on Debian's nodejs", () => {
    const DEB = freshDeb();
    const files = execFileSync("dpkg-deb", ["-c", DEB], { encoding: "utf8" });
    for (const file of [
      "./usr/bin/virtsnap",
      "./usr/lib/virtsnap/virtsnap.cjs",
      "./usr/sbin/virtsnap-nightly",
      "./usr/share/man/man1/virtsnap.1.gz",
      "./usr/share/man/man8/virtsnap-nightly.8.gz",
      "./usr/share/bash-completion/completions/virtsnap",
      "./lib/systemd/system/virtsnap-backup.service",
      "./lib/systemd/system/virtsnap-backup.timer",
      "./etc/default/virtsnap",
      "./usr/share/doc/virtsnap/copyright",
      "./usr/share/doc/virtsnap/changelog.gz",
    ])
      assert.match(files, new RegExp(` ${file.replace(/\./g, "\\.")}\\n`), file);
    const field = (name: string) =>
      execFileSync("dpkg-deb", ["-f", DEB, name], { encoding: "utf8" }).trim();
    assert.equal(field("Depends"), "nodejs (>= 18.19), qemu-utils, libvirt-clients");
    assert.equal(field("Version"), VERSION);
    const conffiles = execFileSync("dpkg-deb", ["--ctrl-tarfile", DEB]);
    assert.ok(conffiles.includes("/etc/default/virtsnap"));
  });

  it("lintian reports no errors", () => {
    // lintian leaves its mldbm-elf-* caches in TMPDIR: give it one of its own, removed after.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "virtsnap-lintian-"));
    try {
      const r = spawnSync("lintian", ["--no-tag-display-limit", freshDeb()], {
        encoding: "utf8",
        env: { ...process.env, TMPDIR: tmp },
      });
      assert.ok(
        r.status !== null && !r.error,
        "lintian did not run: scripts/setup-lab installs it",
      );
      const errors = r.stdout.split("\n").filter((line) => line.startsWith("E:"));
      assert.deepEqual(errors, []);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
