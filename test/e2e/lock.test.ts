/**
 * The domain lock: a run SIGKILLed the instant it took the lock leaves a lock that names its
 * (dead) holder, so the next backup and repair take it over at once; a live holder gives 75.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabDomain, tempDir, uniqueName, virtsnap } from "../lab/lab.js";
import { PointBook } from "../lab/points.js";

/** The lock files in a lock dir (journals and anything else aside). */
async function locks(lockDir: string): Promise<string[]> {
  return (await fs.readdir(lockDir)).filter((f) => f.endsWith(".lock"));
}

describe("domain locks", () => {
  let vm: LabDomain;
  let work: string;
  let book: PointBook;

  before(async () => {
    work = await tempDir("virtsnap-lock-");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }] });
    book = new PointBook(vm, path.join(work, "backups"), work);
  });

  after(async () => {
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  for (const command of ["backup", "repair"] as const) {
    it(`killed right after taking the lock (${command}): the next backup and repair run at once`, async () => {
      const env = { VIRTSNAP_LOCK_DIR: path.join(work, `locks-${command}`) };
      const args = [command, vm.name, "-b", book.backupDir];
      const killed = await virtsnap(args, { ...env, VIRTSNAP_FAILPOINT: "lock.taken" });
      assert.equal(
        killed.exitCode,
        -1,
        `expected SIGKILL, got ${killed.exitCode}: ${killed.stderr}`,
      );
      const [lock] = await locks(env.VIRTSNAP_LOCK_DIR);
      assert.ok(lock, "the killed run left its lock");
      const holder = JSON.parse(
        await fs.readFile(path.join(env.VIRTSNAP_LOCK_DIR, lock), "utf8"),
      ) as { pid: number; command: string };
      assert.equal(holder.command, command, "the lock names its holder from the start");

      await vm.write("vda", 0x31, 0, 2);
      const started = Date.now();
      const next = await virtsnap(["backup", vm.name, "-b", book.backupDir], env);
      assert.equal(next.exitCode, 0, next.stderr);
      assert.match(next.stderr, new RegExp(`taking over the lock of pid ${holder.pid}\\b`));
      await book.assertRestores(await book.latest());
      const killedAgain = await virtsnap(args, { ...env, VIRTSNAP_FAILPOINT: "lock.taken" });
      assert.equal(killedAgain.exitCode, -1);
      const repaired = await virtsnap(["repair", vm.name, "-b", book.backupDir], env);
      assert.equal(repaired.exitCode, 0, repaired.stderr);
      const seconds = (Date.now() - started) / 1000;
      assert.ok(seconds < 20, `took ${seconds} s: a dead holder's lock must not wait 30 s`);
      assert.deepEqual(await locks(env.VIRTSNAP_LOCK_DIR), [], "released after the runs");
    });
  }

  it("a live holder: backup and repair exit 75 naming it, and leave its lock alone", async () => {
    const lockDir = path.join(work, "locks-live");
    const env = { VIRTSNAP_LOCK_DIR: lockDir };
    await virtsnap(["repair", vm.name], { ...env, VIRTSNAP_FAILPOINT: "lock.taken" });
    const [lock] = await locks(lockDir);
    assert.ok(lock);
    const file = path.join(lockDir, lock);
    // This test process stands in for a run that is still going.
    const holder = { ...JSON.parse(await fs.readFile(file, "utf8")), pid: process.pid };
    delete holder.started;
    await fs.writeFile(file, JSON.stringify(holder));
    for (const args of [
      ["backup", vm.name, "-b", book.backupDir],
      ["repair", vm.name, "-b", book.backupDir],
    ]) {
      const r = await virtsnap(args, env);
      assert.equal(r.exitCode, 75, r.stderr);
      assert.match(r.stderr, new RegExp(`locked by pid ${process.pid} on .*virtsnap repair`));
    }
    // restore and files read the catalog under the lock (a prune finishing first would leave it
    // stale): a point that is not there is only found out once the lock is theirs.
    for (const args of [
      ["restore", vm.name, "-b", book.backupDir, "--point", "nope", "--to", path.join(work, "r")],
      ["files", vm.name, "-b", book.backupDir, "--point", "nope"],
    ]) {
      const r = await virtsnap(args, env);
      assert.equal(r.exitCode, 75, `${args[0]}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /no point/);
    }
    assert.deepEqual(await locks(lockDir), [lock]);
    // The same pid with another start time is a pid the kernel gave to a new process: not the holder.
    await fs.writeFile(file, JSON.stringify({ ...holder, started: "1" }));
    const reused = await virtsnap(["repair", vm.name, "-b", book.backupDir], env);
    assert.equal(reused.exitCode, 0, reused.stderr);
  });

  it("a lock folder of an older virtsnap (proper-lockfile): stale once its heartbeat is 30 s old", async () => {
    const lockDir = path.join(work, "locks-legacy");
    const env = { VIRTSNAP_LOCK_DIR: lockDir };
    // Where the lock is found: let a killed run show it, then replace it by a folder.
    const name = uniqueName("vst-nolock");
    await virtsnap(["rotate", name, "-b", work, "--keep-chains", "1"], {
      ...env,
      VIRTSNAP_FAILPOINT: "lock.taken",
    });
    const [lock] = await locks(lockDir);
    assert.ok(lock);
    const file = path.join(lockDir, lock);
    await fs.rm(file);
    await fs.mkdir(file);
    const rotate = () => virtsnap(["rotate", name, "-b", work, "--keep-chains", "1"], env);
    const fresh = await rotate();
    assert.equal(fresh.exitCode, 75, fresh.stderr);
    assert.match(fresh.stderr, /locked by another virtsnap run/);
    const old = new Date(Date.now() - 60_000);
    await fs.utimes(file, old, old);
    const stale = await rotate();
    assert.equal(stale.exitCode, 2, "the lock was taken; then there are no backups to rotate");
    assert.match(stale.stderr, /no backups of/);
    assert.deepEqual(await locks(lockDir), []);
  });
});
