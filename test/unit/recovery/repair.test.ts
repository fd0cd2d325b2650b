/**
 * repair, driven through a scripted virsh/qemu-img: what it runs for what a killed run left, and
 * that it does nothing on a clean domain.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { overlayPath } from "../../../src/chain/names.js";
import { repair } from "../../../src/commands/repair.js";
import { writeCatalog } from "../../../src/repo/catalog.js";
import {
  chainJson,
  domainXml,
  type Script,
  ScriptedRun,
  scratchDir,
  scriptedContext,
} from "../../lab/scripted-run.js";

const NAME = "vm1";

function script(disk: string, chain: string[], job: string): Script {
  return [
    [/^virsh domstate/, { stdout: "running\n" }],
    [/^virsh dumpxml/, { stdout: domainXml(NAME, chain[0] ?? disk) }],
    [/^virsh domjobinfo/, { stdout: `Job type:         ${job}\n` }],
    [/^virsh domjobabort/, {}],
    [/^virsh blockjob .* --info/, { stdout: "" }],
    [/^qemu-img info -U --backing-chain/, { stdout: chainJson(chain) }],
    [/^virsh checkpoint-list/, { stdout: "" }],
  ];
}

describe("repair with a scripted runner", () => {
  let work: string;
  let disk: string;
  const dirs: string[] = [];

  beforeEach(async () => {
    work = await scratchDir("virtsnap-scripted-repair-");
    dirs.push(work);
    disk = path.join(work, "vm1.qcow2");
    await fs.writeFile(disk, "disk");
  });
  after(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });

  it("a clean running domain: reads state, jobs and the chain, changes nothing", async () => {
    const runner = new ScriptedRun(script(disk, [disk], "None"));
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    const report = await repair(ctx, { domain: NAME, backupDir: path.join(work, "backups") });
    assert.deepEqual(report.actions, []);
    assert.deepEqual(runner.words(), [
      "virsh domstate",
      "virsh dumpxml",
      "virsh domjobinfo",
      "virsh blockjob",
      "qemu-img info",
    ]);
  });

  it("a backup job left running is aborted first; an overlay file no chain uses is deleted", async () => {
    const orphan = overlayPath(disk, "20250101T000000Z");
    await fs.writeFile(orphan, "overlay");
    const runner = new ScriptedRun(script(disk, [disk], "Backup"));
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    const report = await repair(ctx, { domain: NAME, backupDir: undefined });
    assert.deepEqual(runner.words().slice(2, 4), ["virsh domjobinfo", "virsh domjobabort"]);
    assert.deepEqual(report.actions, [
      "aborted a backup job left running",
      `disk vda: deleted unused overlay ${orphan}`,
    ]);
    await assert.rejects(fs.stat(orphan), { code: "ENOENT" });
  });

  it("the overlay of a point never saved is merged back into the saved point's overlay", async () => {
    const [saved, unsaved] = ["20250101T000000Z", "20250102T000000Z"];
    const below = overlayPath(disk, saved);
    const top = overlayPath(disk, unsaved);
    const backupDir = path.join(work, "backups");
    const point = {
      id: saved,
      time: "2025-01-01T00:00:00.000Z",
      mode: "snapshot" as const,
      level: "full" as const,
      chain: saved,
      parent: null,
      quiesced: false,
      disks: [],
    };
    await fs.mkdir(path.join(backupDir, NAME), { recursive: true });
    await writeCatalog(path.join(backupDir, NAME), {
      format: 1,
      domain: { name: NAME, uuid: "6d0c4a52-3f1e-4a5e-9a53-2b6f4f1c0a11" },
      chains: [{ id: saved, mode: "snapshot" }],
      points: [point],
    });
    const runner = new ScriptedRun([
      // The chain from the top overlay before the merge, from the one below it after.
      [/^qemu-img info .*20250102T000000Z\S*$/, { stdout: chainJson([top, below, disk]) }],
      [/^qemu-img info/, { stdout: chainJson([below, disk]) }],
      [/^virsh blockcommit/, {}],
      ...script(disk, [top, below, disk], "None"),
    ]);
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    const report = await repair(ctx, { domain: NAME, backupDir });
    const commit = runner.matching(/^virsh blockcommit/);
    assert.deepEqual(commit, [
      `virsh blockcommit --domain ${NAME} --path vda --active --pivot --base ${below} --wait --delete`,
    ]);
    assert.deepEqual(report.actions, [
      `disk vda: merged the overlay of unsaved point ${unsaved} back`,
    ]);
  });
});
