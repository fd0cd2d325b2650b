import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkpointName } from "../../src/cbt/names.js";
import { planCbt } from "../../src/cbt/plan.js";
import { backupXml, checkpointXml, parseJobInfo } from "../../src/libvirt/backup-xml.js";
import { parseXml } from "../../src/libvirt/domain-xml.js";
import { qemuIdentity } from "../../src/libvirt/qemu-access.js";
import { emptyCatalog, withPoint } from "../../src/repo/catalog.js";
import type { Catalog, Chain, Level, Mode, RestorePoint } from "../../src/types.js";

function chain(target: string, format = "qcow2"): Chain {
  return {
    target,
    layers: [
      {
        file: `/img/${target}.${format}`,
        format,
        virtualSize: 1 << 26,
        actualSize: 0,
        backing: undefined,
        compat: "1.1",
      },
    ],
  };
}

function point(
  id: string,
  level: Level,
  chainId: string,
  parent: string | null,
  mode: Mode = "cbt",
  targets = ["vda"],
): RestorePoint {
  return {
    id,
    time: "",
    mode,
    level,
    chain: chainId,
    parent,
    quiesced: false,
    disks: targets.map((t) => ({
      target: t,
      file: `${chainId}/${t}.${id}.${level}.qcow2`,
      format: "qcow2",
      virtualSize: 1 << 26,
      bytes: 1,
      sha256: "x",
    })),
  };
}

function catalogOf(...points: RestorePoint[]): Catalog {
  return points.reduce(withPoint, { ...emptyCatalog({ name: "vm", uuid: "u" }), repoId: REPO });
}

const REPO = "0123abcd";
/** Points of these catalogs have no recorded checkpoint: they were made before repository ids. */
const old = (id: string) => `virtsnap-${id}`;

const A = "20260101T000000Z";
const B = "20260102T000000Z";
const C = "20260103T000000Z";
const NEW = "20260104T000000Z";

describe("planCbt", () => {
  it("first run: a full that starts a chain and creates a checkpoint", () => {
    const plan = planCbt(catalogOf(), [chain("vda")], NEW, "auto");
    assert.equal(plan.level, "full");
    assert.equal(plan.chain, NEW);
    assert.equal(plan.checkpoint, `virtsnap-${REPO}-${NEW}`);
    assert.equal(plan.incrementalFrom, undefined);
    assert.deepEqual(plan.keep, [checkpointName(REPO, NEW)]);
    assert.equal(plan.jobs[0]?.file, `${NEW}/vda.${NEW}.full.qcow2`);
    assert.equal(plan.jobs[0]?.backing, undefined);
  });

  it("auto after a cbt point: inc from the latest checkpoint, backed by the latest file", () => {
    const cat = catalogOf(point(A, "full", A, null), point(B, "inc", A, A));
    const plan = planCbt(cat, [chain("vda")], NEW, "auto");
    assert.equal(plan.level, "inc");
    assert.equal(plan.chain, A);
    assert.equal(plan.parent?.id, B);
    assert.equal(plan.incrementalFrom, old(B));
    assert.deepEqual(plan.needs, [old(B)]);
    assert.deepEqual(plan.keep, [old(A), checkpointName(REPO, NEW)]);
    assert.equal(plan.jobs[0]?.backing, `vda.${B}.inc.qcow2`);
    assert.equal(plan.jobs[0]?.file, `${A}/vda.${NEW}.inc.qcow2`);
  });

  it("diff: from the chain's full, whatever came after it", () => {
    const cat = catalogOf(point(A, "full", A, null), point(B, "inc", A, A), point(C, "inc", A, B));
    const plan = planCbt(cat, [chain("vda")], NEW, "diff");
    assert.equal(plan.parent?.id, A);
    assert.equal(plan.incrementalFrom, old(A));
    assert.deepEqual(plan.needs, [old(A)]);
    assert.equal(plan.jobs[0]?.backing, `vda.${A}.full.qcow2`);
    assert.equal(plan.jobs[0]?.level, "diff");
  });

  it("copy: its own chain, no checkpoint, nothing to keep or need", () => {
    const cat = catalogOf(point(A, "full", A, null));
    const plan = planCbt(cat, [chain("vda")], NEW, "copy");
    assert.deepEqual(
      [plan.level, plan.chain, plan.checkpoint, plan.parent],
      ["copy", NEW, undefined, undefined],
    );
    assert.deepEqual(plan.keep, []);
    assert.equal(plan.jobs[0]?.bitmap, false);
  });

  it("a copy is skipped when finding what to continue from", () => {
    const cat = catalogOf(point(A, "full", A, null), point(B, "copy", B, null));
    const plan = planCbt(cat, [chain("vda")], NEW, "auto");
    assert.equal(plan.level, "inc");
    assert.equal(plan.parent?.id, A);
  });

  it("a snapshot-mode chain is never continued in cbt mode", () => {
    const cat = catalogOf(point(A, "full", A, null, "snapshot"));
    assert.equal(planCbt(cat, [chain("vda")], NEW, "auto").level, "full");
    assert.throws(() => planCbt(cat, [chain("vda")], NEW, "inc"), /no cbt chain to continue/);
  });

  it("raw disks and disks new to the chain are copied whole inside an inc", () => {
    const cat = catalogOf(point(A, "full", A, null, "cbt", ["vda"]));
    const plan = planCbt(cat, [chain("vda"), chain("vdb"), chain("vdc", "raw")], NEW, "inc");
    const byTarget = Object.fromEntries(
      plan.jobs.map((j) => [j.target, [j.level, j.backing, j.bitmap]]),
    );
    assert.deepEqual(byTarget, {
      vda: ["inc", `vda.${A}.full.qcow2`, true],
      vdb: ["full", undefined, true],
      vdc: ["full", undefined, false],
    });
    // The catalog says why a disk of an incremental point is a full copy.
    assert.deepEqual(
      plan.jobs.map((j) => j.wholeReason?.split(":")[0]),
      [undefined, "not in the previous point", "raw image"],
    );
  });
});

describe("backup and checkpoint XML", () => {
  it("backupXml: push mode, incremental, per-disk full and skipped disks", async () => {
    const xml = backupXml("virtsnap-1", [
      { target: "vda", file: "/r/a b'c.qcow2", full: false },
      { target: "vdb", file: "/r/b.qcow2", full: true },
      { target: "vdc", skip: true },
    ]);
    const root = (await parseXml(xml)) as { domainbackup: Record<string, unknown> };
    const backup = root.domainbackup as {
      $: { mode: string };
      incremental: string[];
      disks: { disk: { $: Record<string, string>; target?: { $: { file: string } }[] }[] }[];
    };
    assert.equal(backup.$.mode, "push");
    assert.deepEqual(backup.incremental, ["virtsnap-1"]);
    const disks = backup.disks[0]?.disk ?? [];
    assert.equal(disks[0]?.target?.[0]?.$.file, "/r/a b'c.qcow2");
    assert.equal(disks[0]?.$.backupmode, undefined);
    assert.equal(disks[1]?.$.backupmode, "full");
    assert.deepEqual(disks[2]?.$, { name: "vdc", backup: "no" });
  });

  it("backupXml without a checkpoint to start from has no <incremental> and no backupmode", () => {
    const xml = backupXml(undefined, [{ target: "vda", file: "/r/a.qcow2", full: true }]);
    assert.doesNotMatch(xml, /incremental|backupmode/);
  });

  it("checkpointXml: bitmap for qcow2 disks, no for the others", () => {
    const xml = checkpointXml("virtsnap-2", [
      { target: "vda", bitmap: true },
      { target: "vdb", bitmap: false },
    ]);
    assert.match(xml, /<name>virtsnap-2<\/name>/);
    assert.match(xml, /<disk name="vda" checkpoint="bitmap"\/>/);
    assert.match(xml, /<disk name="vdb" checkpoint="no"\/>/);
  });

  it("parseJobInfo reads job type and sizes", () => {
    const running = parseJobInfo(
      "Job type:         Unbounded   \nOperation:        Backup\nFile processed:   80.000 MiB\nFile total:       1.500 GiB\n",
    );
    assert.deepEqual(running, { type: "Unbounded", processed: 80 * 2 ** 20, total: 1.5 * 2 ** 30 });
    assert.equal(parseJobInfo("Job type:         Failed      \n").type, "Failed");
    assert.equal(parseJobInfo("").type, "None");
  });

  it("qemuIdentity reads the DAC label of the live XML", () => {
    const xml =
      "<seclabel type='dynamic' model='dac' relabel='yes'>\n    <label>+64055:+64055</label>\n</seclabel>";
    assert.deepEqual(qemuIdentity(xml), { uid: 64055, gid: 64055 });
    assert.equal(qemuIdentity("<seclabel type='none' model='selinux'/>"), undefined);
  });
});
