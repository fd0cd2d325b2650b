import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { type FilesReport, renderFiles } from "../../src/commands/files.js";
import type { Context } from "../../src/context.js";
import { CommandError } from "../../src/errors.js";
import type { Cmd } from "../../src/exec.js";
import { parseFilesystems } from "../../src/guestfs/guestfish.js";
import { GuestfsSession, splitFsPath } from "../../src/guestfs/session.js";
import { createLog } from "../../src/log.js";
import { NO_PROGRESS } from "../../src/progress.js";

/** A scripted guestfish: `answer` gives each command's stdout (or throws). */
function fakeCtx(answer: (args: string[]) => string, progress: boolean) {
  const lines: string[] = [];
  const calls: string[][] = [];
  const ctx = {
    log: createLog({ level: "debug", write: (l) => lines.push(l), tty: true }),
    progress: { ...NO_PROGRESS, enabled: progress },
    signal: new AbortController().signal,
    run: async (cmd: Cmd) => {
      calls.push(cmd.args);
      return { stdout: answer(cmd.args), stderr: "", exitCode: 0 };
    },
  } as unknown as Context;
  return { ctx, lines, calls };
}

const server = (args: string[]): string => {
  if (args[0] === "--listen") return "GUESTFISH_PID=42; export GUESTFISH_PID\n";
  if (args.includes("list-filesystems")) return "/dev/sda: ext4\n";
  return "";
};

/** Runs `body` with os.tmpdir() in a folder of its own, to see what is left there. */
async function inOwnTmp(body: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-unit-"));
  const old = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    await body(tmp);
  } finally {
    if (old === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = old;
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

describe("the guestfish session", () => {
  for (const progress of [true, false]) {
    it(`says the appliance is starting as info ${progress ? "on" : "only in --debug off"} a terminal`, async () => {
      const { ctx, lines } = fakeCtx(server, progress);
      const session = await GuestfsSession.open(ctx, [{ target: "vda", file: "/r/vda.qcow2" }]);
      await session.close();
      const said = lines.filter((l) => l.includes("starting the libguestfs appliance"));
      assert.equal(said.length, 1, lines.join("\n"));
      assert.equal(said[0]?.includes("debug:"), !progress, said[0]);
      assert.deepEqual(session.filesystems, [{ device: "/dev/sda", type: "ext4", disk: "vda" }]);
    });
  }

  it("leaves no temp folder when the server does not start", async () => {
    await inOwnTmp(async (tmp) => {
      const { ctx } = fakeCtx(() => {
        throw new CommandError("guestfish: no such image", "guestfish", "", 1);
      }, false);
      await assert.rejects(GuestfsSession.open(ctx, [{ target: "vda", file: "/nope" }]), /no such/);
      assert.deepEqual(await fs.readdir(tmp), []);
      const silent = fakeCtx(() => "no pid here", false).ctx;
      await assert.rejects(GuestfsSession.open(silent, []), /printed no PID/);
      assert.deepEqual(await fs.readdir(tmp), []);
    });
  });

  it("reads the symlinks of a folder in one readlinklist; odd names one by one", async () => {
    const { ctx, calls } = fakeCtx((args) => {
      if (args.includes("readlinklist")) return "x.txt\n../y\n";
      if (args.includes("readlink")) return "t z\n";
      return server(args);
    }, false);
    const session = await GuestfsSession.open(ctx, [{ target: "vda", file: "/r/vda.qcow2" }]);
    const targets = await session.readlinkList("/d", ["a", "my link", "b"]);
    assert.deepEqual(targets, ["x.txt", "t z", "../y"]);
    const reads = calls.filter((c) => c.some((a) => a.startsWith("readlink")));
    assert.deepEqual(
      reads.map((c) => c.slice(2)),
      [
        ["readlinklist", "/d", "a b"],
        ["readlink", "/d/my link"],
      ],
    );
    await session.close();
  });

  it("a dangling symlink exists (exists follows links, is-symlink does not)", async () => {
    const { ctx } = fakeCtx((args) => {
      if (args.includes("exists")) return "false\n";
      if (args.includes("is-symlink")) return args.at(-1) === "/dangling" ? "true\n" : "false\n";
      return server(args);
    }, false);
    const session = await GuestfsSession.open(ctx, [{ target: "vda", file: "/r/vda.qcow2" }]);
    assert.equal(await session.exists("/dangling"), true);
    assert.equal(await session.exists("/nope"), false);
    await session.close();
  });
});

describe("guest paths and filesystems", () => {
  it("normalizes paths, so that /a/. is named a and /a/.. is /", () => {
    assert.deepEqual(splitFsPath("/a/."), { device: undefined, path: "/a" });
    assert.deepEqual(splitFsPath("/dev/sda1:/a/b/.."), { device: "/dev/sda1", path: "/a" });
    assert.equal(splitFsPath("/a/..").path, "/");
    assert.equal(splitFsPath("//etc//x").path, "/etc/x");
  });

  it("orders filesystems by disk, then partition number (sda2 before sda10)", () => {
    const found = parseFilesystems(
      "/dev/vg/lv: ext4\n/dev/sdaa1: ext4\n/dev/sda10: ext4\n/dev/sdb1: xfs\n/dev/sda2: ext4\n/dev/sdz: ext4\n/dev/sda: ext4\n",
    );
    assert.deepEqual(
      found.map((f) => f.device),
      ["/dev/sda", "/dev/sda2", "/dev/sda10", "/dev/sdb1", "/dev/sdz", "/dev/sdaa1", "/dev/vg/lv"],
    );
  });
});

describe("files: the text listing", () => {
  it("one ls -l-like line per entry under a head naming point, filesystem, disk and folder", () => {
    const report: FilesReport = {
      domain: "web",
      point: "20260102T030405Z",
      filesystem: "/dev/sda1",
      disk: "vda",
      path: "/etc",
      entries: [
        {
          name: "d",
          type: "directory",
          size: 4096,
          mode: 0o755,
          uid: 0,
          gid: 0,
          mtime: "2020-01-02T03:04:05.000Z",
        },
        {
          name: "x.txt",
          type: "file",
          size: 2,
          mode: 0o4640,
          uid: 1234,
          gid: 567,
          mtime: "2021-12-31T23:59:59.500Z",
        },
        {
          name: "l",
          type: "symlink",
          size: 5,
          mode: 0o777,
          uid: 0,
          gid: 0,
          mtime: "2020-01-02T03:04:05.000Z",
          target: "x.txt",
        },
        {
          name: "p",
          type: "fifo",
          size: 0,
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: "2020-01-02T03:04:05.000Z",
        },
      ],
    };
    assert.equal(
      renderFiles(report),
      [
        "point 20260102T030405Z, /dev/sda1 (vda): /etc",
        "d0755 0:0               4096  2020-01-02 03:04:05  d",
        "-4640 1234:567             2  2021-12-31 23:59:59  x.txt",
        "l0777 0:0                  5  2020-01-02 03:04:05  l -> x.txt",
        "?0644 0:0                  0  2020-01-02 03:04:05  p",
      ].join("\n"),
    );
    assert.equal(
      renderFiles({ ...report, disk: undefined, entries: [] }),
      "point 20260102T030405Z, /dev/sda1: /etc",
    );
  });
});
