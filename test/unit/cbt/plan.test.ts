import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkpointName } from "../../../src/cbt/names.js";
import { planCbt } from "../../../src/cbt/plan.js";
import { emptyCatalog, withPoint } from "../../../src/repo/catalog.js";
import type { Catalog, Chain, Level, Mode, RestorePoint } from "../../../src/types.js";

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
