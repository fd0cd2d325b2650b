import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import type { Context } from "../../../src/context.js";
import { CommandError } from "../../../src/errors.js";
import type { Cmd } from "../../../src/exec.js";
import { GuestfsSession, pickFilesystem, splitFsPath } from "../../../src/guestfs/session.js";
import { createLog } from "../../../src/log.js";
import { NO_PROGRESS } from "../../../src/progress.js";

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
});

describe("guest paths and the filesystem to use", () => {
  it("FILESYSTEM:/path names a filesystem; a relative path is bad input", () => {
    assert.deepEqual(splitFsPath("/dev/sda1:/etc/x:y"), { device: "/dev/sda1", path: "/etc/x:y" });
    assert.deepEqual(splitFsPath("/etc/a:b"), { device: undefined, path: "/etc/a:b" });
    assert.throws(() => splitFsPath("etc"), /not an absolute path/);
  });

  it("picks the only filesystem, or the one on --disk; several need a name", () => {
    const all = [
      { device: "/dev/sda1", type: "ext4", disk: "vda" },
      { device: "/dev/sdb", type: "xfs", disk: "vdb" },
    ];
    assert.equal(pickFilesystem(all, undefined, "vdb").device, "/dev/sdb");
    assert.equal(pickFilesystem(all, "/dev/sda1", undefined).device, "/dev/sda1");
    assert.throws(
      () => pickFilesystem(all, undefined, undefined),
      /several filesystems \(\/dev\/sda1 ext4 on vda, \/dev\/sdb xfs on vdb\)/,
    );
    assert.throws(() => pickFilesystem(all, "/dev/sdc", undefined), /no filesystem \/dev\/sdc/);
    assert.throws(
      () => pickFilesystem([], undefined, undefined),
      /no filesystem libguestfs can mount/,
    );
  });
});
