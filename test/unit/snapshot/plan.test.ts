import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ownImage } from "../../../src/chain/live-chain.js";
import { BLOCK_OVERLAY_DIR, overlayPath, parseOverlay } from "../../../src/chain/names.js";
import { emptyCatalog, withPoint } from "../../../src/repo/catalog.js";
import { planSnapshot } from "../../../src/snapshot/plan.js";
import type { Chain, Layer, RestorePoint } from "../../../src/types.js";

function layer(file: string, format = "qcow2", backing?: string): Layer {
  return {
    file,
    format,
    virtualSize: 1 << 26,
    actualSize: 1 << 20,
    backing,
    compat: format === "qcow2" ? "1.1" : undefined,
  };
}

/** A live chain, top first: own image plus the virtsnap overlays named after `trackedIds`. */
function liveChain(target: string, trackedIds: string[], format = "qcow2"): Chain {
  const own = `/img/${target}.${format}`;
  const overlays = trackedIds.map((id) => layer(overlayPath(own, id)));
  return { target, layers: [...overlays, layer(own, format)] };
}

function snapshotPoint(
  id: string,
  chain: string,
  parent: string | null,
  targets: string[],
): RestorePoint {
  const level = parent ? "inc" : "full";
  return {
    id,
    time: "",
    mode: "snapshot",
    level,
    chain,
    parent,
    quiesced: false,
    disks: targets.map((t) => ({
      target: t,
      file: `${chain}/${t}.${id}.${level}.qcow2`,
      format: "qcow2",
      virtualSize: 1,
      bytes: 1,
      sha256: "x",
    })),
  };
}

const P1 = "20260101T000000Z";
const P2 = "20260102T000000Z";
const NEW = "20260103T000000Z";
const catalog = [
  snapshotPoint(P1, P1, null, ["vda", "vdb"]),
  snapshotPoint(P2, P1, P1, ["vda", "vdb"]),
].reduce(withPoint, emptyCatalog({ name: "vm", uuid: "u" }));

describe("planSnapshot", () => {
  it("first run: a full of the flattened disk, a new chain, overlays named after the new point", () => {
    const plan = planSnapshot(
      emptyCatalog({ name: "vm", uuid: "u" }),
      [liveChain("vda", [])],
      NEW,
      false,
      "vm",
    );
    assert.deepEqual([plan.level, plan.chain, plan.parent], ["full", NEW, undefined]);
    const job = plan.jobs[0];
    assert.equal(job?.frozen.file, "/img/vda.qcow2");
    assert.equal(job?.overlay, `/img/vda.qcow2.virtsnap-${NEW}.qcow2`);
    assert.equal(job?.file, `${NEW}/vda.${NEW}.full.qcow2`);
  });

  it("a top overlay named after the latest point holds exactly the changes since it: inc", () => {
    const plan = planSnapshot(
      catalog,
      [liveChain("vda", [P2]), liveChain("vdb", [P2])],
      NEW,
      false,
      "vm",
    );
    assert.deepEqual([plan.level, plan.chain, plan.parent?.id], ["inc", P1, P2]);
    assert.deepEqual(
      plan.jobs.map((j) => [j.level, j.backing, j.frozen.file, j.own.file]),
      [
        ["inc", `vda.${P2}.inc.qcow2`, overlayPath("/img/vda.qcow2", P2), "/img/vda.qcow2"],
        ["inc", `vdb.${P2}.inc.qcow2`, overlayPath("/img/vdb.qcow2", P2), "/img/vdb.qcow2"],
      ],
    );
  });

  it("an overlay named after another point (another repository, a failed run) forces a full", () => {
    const plan = planSnapshot(catalog, [liveChain("vda", [P1])], NEW, false, "vm");
    assert.equal(plan.level, "full");
    assert.equal(plan.chain, NEW);
  });

  it("leftover frozen layers below the top still commit into the own image, never below it", () => {
    const plan = planSnapshot(catalog, [liveChain("vda", [P2, P1])], NEW, false, "vm");
    assert.equal(plan.jobs[0]?.own.file, "/img/vda.qcow2");
    assert.equal(plan.jobs[0]?.frozen.file, overlayPath("/img/vda.qcow2", P2));
  });

  it("disks new to the chain are copied whole inside an inc, and say so", () => {
    const plan = planSnapshot(
      catalog,
      [liveChain("vda", [P2]), liveChain("vdc", [P2], "raw"), liveChain("vdd", [])],
      NEW,
      false,
      "vm",
    );
    assert.equal(plan.level, "inc");
    assert.deepEqual(
      plan.jobs.map((j) => [j.target, j.level, j.wholeReason !== undefined]),
      [
        ["vda", "inc", false],
        ["vdc", "full", true],
        ["vdd", "full", true],
      ],
    );
    assert.match(plan.jobs[1]?.wholeReason ?? "", /not in the previous point/);
    const stale = planSnapshot(
      catalog,
      [liveChain("vda", [P2]), liveChain("vdb", [P1])],
      NEW,
      false,
      "vm",
    );
    assert.deepEqual(
      stale.jobs.map((j) => j.level),
      ["inc", "full"],
    );
    assert.match(stale.jobs[1]?.wholeReason ?? "", /does not track the previous point/);
  });

  it("a raw file and a block device continue the chain like qcow2, from their qcow2 overlay", () => {
    const raws = [
      snapshotPoint(P1, P1, null, ["vdb", "vdc"]),
      snapshotPoint(P2, P1, P1, ["vdb", "vdc"]),
    ].reduce(withPoint, emptyCatalog({ name: "vm", uuid: "u" }));
    const device = "/dev/vg0/data";
    const base = `${BLOCK_OVERLAY_DIR}/vm/vdc`;
    const block: Chain = {
      target: "vdc",
      layers: [layer(overlayPath(base, P2)), { ...layer(device, "raw"), block: true }],
    };
    const plan = planSnapshot(raws, [liveChain("vdb", [P2], "raw"), block], NEW, false, "vm");
    assert.equal(plan.level, "inc");
    assert.deepEqual(
      plan.jobs.map((j) => [j.level, j.own.file, j.frozen.file, j.overlay]),
      [
        ["inc", "/img/vdb.raw", overlayPath("/img/vdb.raw", P2), overlayPath("/img/vdb.raw", NEW)],
        // A block device's overlays live in virtsnap's folder, never beside it in /dev.
        ["inc", device, overlayPath(base, P2), overlayPath(base, NEW)],
      ],
    );
    assert.equal(ownImage(block).file, device);
    assert.equal(parseOverlay(plan.jobs[1]?.overlay ?? "")?.image, base);
  });

  it("--level full starts a new chain even when an inc is possible", () => {
    const plan = planSnapshot(catalog, [liveChain("vda", [P2])], NEW, true, "vm");
    assert.deepEqual([plan.level, plan.chain], ["full", NEW]);
  });
});
