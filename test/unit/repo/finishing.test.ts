import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import type { Context } from "../../../src/context.js";
import type { Cmd } from "../../../src/exec.js";
import { NO_PROGRESS } from "../../../src/progress.js";
import { blockDigest } from "../../../src/repo/block-digest.js";
import { sha256File } from "../../../src/repo/files.js";
import { Finishing, whileFlushing } from "../../../src/repo/finishing.js";

/** qemu-img check answers "clean", or "corrupt" for files named so. */
function fakeCtx(calls: string[]): Context {
  return {
    progress: NO_PROGRESS,
    signal: new AbortController().signal,
    run: async (cmd: Cmd) => {
      const file = cmd.args.at(-1) ?? "";
      calls.push(path.basename(file));
      const corruptions = file.includes("corrupt") ? 1 : 0;
      return { stdout: JSON.stringify({ corruptions }), stderr: "" };
    },
  } as unknown as Context;
}

describe("finishing queue", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-finish-"));
  after(() => fs.rm(dir, { recursive: true, force: true }));
  const partial = async (name: string) => {
    await fs.writeFile(path.join(dir, `${name}.partial`), randomBytes(5 * 1024 * 1024 + 3));
  };

  it("finishes the queued partials in order: checked, hashed, renamed, 0600", async () => {
    await partial("a.qcow2");
    await partial("b.qcow2");
    const calls: string[] = [];
    const f = new Finishing(fakeCtx(calls), dir, 2);
    f.add("a.qcow2", "vda", 10);
    f.add("b.qcow2", "vdb", 20, { whole: true, reason: "new disk" });
    const disks = await f.disks();
    assert.deepEqual(calls, ["a.qcow2.partial", "b.qcow2.partial"]);
    assert.deepEqual(
      disks.map((d) => [d.target, d.file, d.virtualSize, d.whole]),
      [
        ["vda", "a.qcow2", 10, undefined],
        ["vdb", "b.qcow2", 20, true],
      ],
    );
    for (const d of disks) {
      const file = path.join(dir, d.file);
      assert.equal(d.digest, await blockDigest(file));
      assert.equal(d.sha256, undefined);
      assert.equal(d.bytes, (await fs.stat(file)).size);
      assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    }
  });

  it("a format-1 repository gets a whole-file sha256", async () => {
    await partial("c.qcow2");
    const f = new Finishing(fakeCtx([]), dir, 1);
    f.add("c.qcow2", "vda", 1);
    const [disk] = await f.disks();
    assert.equal(disk?.sha256, await sha256File(path.join(dir, "c.qcow2")));
    assert.equal(disk?.digest, undefined);
  });

  it("a failed check fails disks() after everything settled; the next file is still finished", async () => {
    await partial("corrupt.qcow2");
    await partial("d.qcow2");
    const f = new Finishing(fakeCtx([]), dir, 2);
    f.add("corrupt.qcow2", "vda", 1);
    f.add("d.qcow2", "vdb", 1);
    await assert.rejects(f.disks(), /qemu-img check failed for corrupt\.qcow2\.partial/);
    await fs.access(path.join(dir, "corrupt.qcow2.partial"));
    await fs.access(path.join(dir, "d.qcow2"));
  });
});

describe("whileFlushing", () => {
  it("hands back the work's result and stops at once when the work ends", async () => {
    const started = Date.now();
    const result = await whileFlushing(["/nonexistent/file"], async () => 42);
    assert.equal(result, 42);
    assert.ok(Date.now() - started < 200, "no wait for the next flush tick");
  });

  it("keeps flushing a file that appears during the work, and passes the work's error on", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-flush-"));
    try {
      const file = path.join(dir, "x.partial");
      await assert.rejects(
        whileFlushing([file], async () => {
          await fs.writeFile(file, "data");
          await new Promise((r) => setTimeout(r, 600));
          throw new Error("copy failed");
        }),
        /copy failed/,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
