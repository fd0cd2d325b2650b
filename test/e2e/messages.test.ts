/**
 * Messages instead of stack traces: each wrong setup gets one line saying what to do and the
 * documented exit code; usage errors end with a newline and are JSON under --json; a bare
 * --quiesce never takes the domain name after it.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { LabDomain, tempDir } from "../lab/lab.js";

const BIN = fileURLToPath(new URL("../../../bin/virtsnap.js", import.meta.url));
const NOBODY = ["--reuid=nobody", "--regid=nogroup", "--clear-groups"];
/** nobody's TMPDIR, where its lock folder (virtsnap-65534) goes: removed after the tests. */
let nobodyTmp: string | undefined;

interface Raw {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** The CLI with its output exactly as written (final newlines kept), as root or as nobody. */
async function cli(args: string[], as: "root" | "nobody" = "root"): Promise<Raw> {
  const [file, pre] =
    as === "nobody" ? ["setpriv", [...NOBODY, process.execPath, BIN]] : [process.execPath, [BIN]];
  const r = await execa(file, [...pre, ...args], {
    reject: false,
    stdin: "ignore",
    stripFinalNewline: false,
    cwd: "/",
    ...(as === "nobody" && nobodyTmp ? { env: { TMPDIR: nobodyTmp } } : {}),
  });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

/** One line ending with a newline, no stack frames; returns the line. */
function oneLine(r: Raw): string {
  assert.doesNotMatch(r.stderr, /^\s+at /m, `a stack trace:\n${r.stderr}`);
  assert.ok(r.stderr.endsWith("\n"), `no final newline: ${JSON.stringify(r.stderr)}`);
  const lines = r.stderr.slice(0, -1).split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  return lines[0] as string;
}

const REPORT_KEYS = ["ok", "exitCode", "error", "host", "domains", "summary"];

describe("messages instead of stack traces", () => {
  let vm: LabDomain;
  let work: string;
  let dir: string;
  let file: string;
  /** Why nobody cannot run the CLI from this checkout at all (then those tests are skipped). */
  let nobodyCannot: string | undefined;

  before(async () => {
    work = await tempDir("virtsnap-msgs-");
    dir = path.join(work, "backups");
    file = path.join(work, "a-file");
    await fs.writeFile(file, "not a folder\n");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 32 }] });
    nobodyTmp = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-msgs-nobody-"));
    await fs.chown(nobodyTmp, 65534, 65534);
    const r = await cli(["backup", vm.name, "-b", dir, "--quiesce=off"]);
    assert.equal(r.exitCode, 0, r.stderr);
    const version = await cli(["--version"], "nobody");
    if (version.exitCode !== 0) nobodyCannot = `nobody cannot run ${BIN}: ${version.stderr}`;
  });
  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
    if (nobodyTmp) await fs.rm(nobodyTmp, { recursive: true, force: true });
  });

  it("-b naming a file: exit 2 and one line, for backup and for the commands that read", async () => {
    const r = await cli(["backup", vm.name, "-b", file, "--quiesce=off"]);
    assert.equal(r.exitCode, 2);
    assert.match(oneLine(r), new RegExp(`${file} is a file, not a folder`));
    for (const args of [
      ["list"],
      ["list", vm.name],
      ["verify", vm.name],
      ["restore", vm.name, "--to", path.join(work, "never")],
      ["prune", vm.name, "--keep-last", "1"],
    ]) {
      const read = await cli([...args, "-b", file]);
      assert.equal(read.exitCode, 2, `${args[0]}: ${read.stderr}`);
      assert.match(oneLine(read), new RegExp(`${file} is a file, not a folder`));
    }
  });

  it("as a user who is not root: backup says to run as root; root's repository cannot be read", async (t) => {
    if (nobodyCannot) return t.skip(nobodyCannot);
    const r = await cli(["backup", vm.name, "-b", path.join(work, "nobody")], "nobody");
    assert.equal(r.exitCode, 2, r.stderr);
    assert.match(
      oneLine(r),
      /^.*cannot connect to libvirt at qemu:\/\/\/system: .*run virtsnap as root/,
    );
    for (const args of [
      ["list", vm.name],
      ["verify", vm.name],
      ["restore", vm.name, "--to", path.join(work, "never")],
    ]) {
      const read = await cli([...args, "-b", dir], "nobody");
      assert.equal(read.exitCode, 2, `${args[0]}: ${read.stderr}`);
      assert.match(
        oneLine(read),
        new RegExp(`permission denied: ${dir}/${vm.name}/virtsnap.json; run virtsnap as root`),
      );
    }
    const lockedOut = path.join(work, "root-only");
    await fs.mkdir(lockedOut, { mode: 0o700 });
    const all = await cli(["list", "-b", lockedOut], "nobody");
    assert.equal(all.exitCode, 2, all.stderr);
    assert.match(oneLine(all), new RegExp(`permission denied: ${lockedOut}; run virtsnap as root`));
    const session = await cli(["-c", "qemu:///session", "info", vm.name], "nobody");
    assert.equal(session.exitCode, 2, session.stderr);
    assert.match(oneLine(session), /cannot connect to libvirt at qemu:\/\/\/session: /);
  });

  it("libvirt's socket missing: exit 1, one line naming the URI and what to check", async () => {
    const uri = "qemu+unix:///system?socket=/nonexistent";
    for (const args of [
      ["info", vm.name],
      ["backup", vm.name, "-b", dir],
    ]) {
      const r = await cli(["-c", uri, ...args]);
      assert.equal(r.exitCode, 1, r.stderr);
      assert.equal(
        oneLine(r).replace(/^\S+Z /, ""),
        `error: cannot connect to libvirt at ${uri}: Failed to connect socket to '/nonexistent': No such file or directory; is libvirtd (or virtqemud) running, and is -c (or LIBVIRT_DEFAULT_URI) right?`,
      );
    }
  });

  it("usage errors end with a newline and are one JSON document under --json", async () => {
    const unknown = await cli(["backup", vm.name, "-b", dir, "--no-such-flag"]);
    assert.equal(unknown.exitCode, 2);
    assert.equal(oneLine(unknown), "error: unknown option '--no-such-flag'");
    assert.equal(unknown.stdout, "");

    const json = await cli(["--json", "backup", vm.name, "-b", dir, "--no-such-flag"]);
    assert.equal(json.exitCode, 2);
    oneLine(json);
    const report = JSON.parse(json.stdout) as { ok: boolean; exitCode: number; error: string };
    assert.deepEqual(Object.keys(report), REPORT_KEYS, "backup's one shape");
    assert.deepEqual([report.ok, report.exitCode], [false, 2]);
    assert.match(report.error, /unknown option '--no-such-flag'/);

    for (const [args, error] of [
      [["restore", vm.name, "-b", dir], /required option '--to <dir>' not specified/],
      [["verify"], /missing required argument 'domain'/],
      [["rotate", vm.name, "-b", dir, "--keep-chains", "0"], /--keep-chains/],
      [["list", vm.name, "-b", path.join(work, "none")], /no backups of/],
    ] as const) {
      const r = await cli(["--json", ...args]);
      assert.equal(r.exitCode, 2, r.stderr);
      oneLine(r);
      const doc = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(doc), ["ok", "error", "exitCode"], r.stdout);
      assert.deepEqual([doc.ok, doc.exitCode], [false, 2]);
      assert.match(String(doc.error), error);
    }
  });

  it("a bare --quiesce before the domain backs up that domain with quiesce=required", async () => {
    // No guest agent here: required fails the domain, which proves both the name and the mode.
    const r = await cli(["--json", "backup", "--quiesce", vm.name, "-b", dir]);
    assert.equal(r.exitCode, 1, r.stderr);
    assert.match(r.stderr, /^\S+ error: .*guest agent is not configured$/m);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    const report = JSON.parse(r.stdout) as { domains: { domain: string; error: string }[] };
    assert.deepEqual(
      report.domains.map((d) => d.domain),
      [vm.name],
    );
    const off = await cli(["backup", "--quiesce", "off", vm.name, "-b", dir]);
    assert.equal(off.exitCode, 0, off.stderr);
  });
});
