/**
 * Acting on what the host shows: leftovers of a dead run are repaired before a backup (never a
 * second overlay stacked on them), a linked clone's template is never touched, a paused domain
 * stays paused.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { IMAGES, LabDomain, must, sha256, tempDir, uniqueName, virtsnap } from "../lab/lab.js";
import { listPoints, PointBook } from "../lab/points.js";

describe("host facts, linked clones, paused domains", () => {
  let work: string;
  const domains: LabDomain[] = [];
  let templateDir: string;

  before(async () => {
    work = await tempDir("virtsnap-host-");
    templateDir = path.join(IMAGES, uniqueName("vst-tpl"));
    await fs.mkdir(templateDir);
  });
  after(async () => {
    for (const vm of domains) await vm.destroy();
    await fs.rm(templateDir, { recursive: true, force: true });
    await fs.rm(work, { recursive: true, force: true });
  });

  it("a domain left on a second overlay by a killed run (journal lost): the next backup repairs first", async () => {
    const vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }] });
    domains.push(vm);
    const dir = path.join(work, "leftover");
    const book = new PointBook(vm, dir, work);
    await vm.write("vda", 0xb1, 0, 2);
    await book.backup("--mode", "snapshot");
    await vm.write("vda", 0xb2, 2, 2);
    const killed = await book.attempt(["--mode", "snapshot"], {
      VIRTSNAP_FAILPOINT: "backup.snapshot.copy",
    });
    assert.equal(killed.exitCode, -1, killed.stderr);
    assert.equal(
      (await vm.chain("vda")).length,
      3,
      "own <- tracked overlay <- the dead run's overlay",
    );
    const journal = path.join(dir, vm.name, "journal.json");
    const prune = await virtsnap(["prune", vm.name, "-b", dir, "--keep-last", "1"]);
    assert.equal(prune.exitCode, 1, "prune cannot repair a domain, so it must not go on");
    assert.match(prune.stderr, /interrupted backup of '.*' .*not repaired yet/);
    await fs.stat(journal); // still there for repair
    await fs.rm(journal); // as if the repository had moved

    await vm.write("vda", 0xb3, 4, 2);
    const r = await book.attempt(["--mode", "snapshot"]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(
      r.stderr,
      /sits on 2 virtsnap overlays, left by an earlier run: repairing that first/,
    );
    const point = await book.latest();
    assert.equal(point.level, "inc", "the chain stays incremental");
    const chain = await vm.chain("vda");
    assert.equal(chain.length, 2, chain.join(" <- "));
    assert.deepEqual(await vm.overlayFiles(), [chain[0]]);
    for (const p of await listPoints(dir, vm.name)) await book.assertRestores(p);
  });

  it("a linked clone: backups in both modes, every consolidate method and repair leave the template alone", async () => {
    const template = path.join(templateDir, "template.qcow2");
    await must("qemu-img", ["create", "-q", "-f", "qcow2", template, "64M"]);
    await must("qemu-io", ["-f", "qcow2", template, "-c", "write -P 0x99 40M 8M"]);
    await fs.chmod(template, 0o644);
    const before = await sha256(template);
    const vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64, backing: template }],
    });
    domains.push(vm);
    vm.assumeWritten("vda", 0x99, 40, 8);
    const own = vm.disks[0]?.path as string;
    const dir = path.join(work, "clone");
    const book = new PointBook(vm, dir, work);
    const templateIntact = async (step: string) => {
      assert.equal(await sha256(template), before, `template changed by ${step}`);
      const chain = await vm.chain("vda");
      assert.deepEqual(chain.slice(-2), [own, template], `${step}: ${chain.join(" <- ")}`);
    };
    /** A backup killed after its point was saved leaves a frozen overlay for consolidate to merge. */
    const frozenLayer = async () => {
      await vm.write("vda", 0xc0 + (await listPoints(dir, vm.name)).length, 8, 1);
      const r = await book.attempt(["--mode", "snapshot"], {
        VIRTSNAP_FAILPOINT: "backup.snapshot.commit-frozen",
      });
      assert.equal(r.exitCode, -1, r.stderr);
      await book.latest();
      await fs.rm(path.join(dir, vm.name, "journal.json"));
      assert.equal((await vm.chain("vda")).length, 4, "own <- frozen <- active above the template");
    };

    await vm.write("vda", 0xc1, 0, 2);
    await book.backup("--mode", "snapshot");
    await templateIntact("a snapshot full");
    await frozenLayer();
    for (const args of [
      ["--method", "pull"],
      ["--method", "commit"],
    ]) {
      const r = await virtsnap(["consolidate", vm.name, ...args]);
      assert.equal(r.exitCode, 0, r.stderr);
      await templateIntact(`consolidate ${args.join(" ")}`);
      if (args[1] === "pull") await frozenLayer();
    }
    await frozenLayer();
    const repaired = await virtsnap(["repair", vm.name, "-b", dir]);
    assert.equal(repaired.exitCode, 0, repaired.stderr);
    await templateIntact("repair");
    const all = await virtsnap(["consolidate", vm.name, "--all-layers"]);
    assert.equal(all.exitCode, 0, all.stderr);
    await templateIntact("consolidate --all-layers");
    assert.equal((await vm.chain("vda")).length, 2, "own image right on the template");

    await vm.write("vda", 0xc9, 12, 1);
    await book.backup("--mode", "cbt");
    await vm.write("vda", 0xca, 13, 1);
    await book.backup("--mode", "cbt");
    await templateIntact("cbt backups");
    for (const p of await listPoints(dir, vm.name)) await book.assertRestores(p);
  });

  it("a paused domain stays paused in both modes", async () => {
    const vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }] });
    domains.push(vm);
    const dir = path.join(work, "paused");
    const book = new PointBook(vm, dir, work);
    await vm.write("vda", 0xd1, 0, 2);
    await must("virsh", ["suspend", "--domain", vm.name]);
    for (const mode of ["snapshot", "snapshot", "cbt", "cbt"]) {
      await book.backup("--mode", mode);
      assert.equal(await vm.state(), "paused", `after a ${mode} backup`);
    }
    for (const p of await listPoints(dir, vm.name)) await book.assertRestores(p);
  });
});
