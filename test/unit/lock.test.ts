import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { lockDirFlaw, lockDomain } from "../../src/lock.js";
import { silentLog } from "../../src/log.js";

describe("the lock dir must be the user's own", () => {
  let work: string;
  before(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-lockdir-"));
  });
  after(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it("lockDirFlaw: world- or group-writable, or another user's, is a flaw", () => {
    assert.equal(lockDirFlaw({ mode: 0o40700, uid: 1000 }, 1000), "");
    assert.equal(lockDirFlaw({ mode: 0o40755, uid: 1000 }, 1000), "");
    assert.match(lockDirFlaw({ mode: 0o41777, uid: 0 }, 1000), /world-writable/);
    assert.match(lockDirFlaw({ mode: 0o40770, uid: 1000 }, 1000), /group-writable/);
    assert.match(lockDirFlaw({ mode: 0o40700, uid: 1001 }, 1000), /belongs to uid 1001/);
  });

  const take = (lockDir: string) =>
    lockDomain({ lockDir, uri: "qemu:///system", log: silentLog(), env: {} }, "d", "test");

  it("a group-writable lock dir is refused, and nothing is written in it", async () => {
    const dir = path.join(work, "group");
    await fs.mkdir(dir);
    await fs.chmod(dir, 0o770);
    await assert.rejects(take(dir), /lock dir .* is group-writable/);
    assert.deepEqual(await fs.readdir(dir), []);
  });

  it("a lock dir made by another user is refused", { skip: process.getuid?.() !== 0 }, async () => {
    const dir = path.join(work, "other");
    await fs.mkdir(dir, { mode: 0o700 });
    await fs.chown(dir, 65534, 65534);
    await assert.rejects(take(dir), /lock dir .* belongs to uid 65534, not to you \(0\)/);
    assert.deepEqual(await fs.readdir(dir), []);
  });

  it("the user's own private lock dir is used", async () => {
    const dir = path.join(work, "mine");
    const release = await take(dir);
    assert.equal((await fs.readdir(dir)).filter((f) => f.endsWith(".lock")).length, 1);
    await release();
  });
});
