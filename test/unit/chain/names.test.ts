import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BLOCK_OVERLAY_DIR,
  overlayBase,
  overlayPath,
  parseOverlay,
} from "../../../src/chain/names.js";

const C = "20260102T000000Z";

describe("overlay names", () => {
  it("overlay names carry the image and the point they track", () => {
    const overlay = overlayPath("/img/my disk.qcow2", C);
    assert.equal(overlay, `/img/my disk.qcow2.virtsnap-${C}.qcow2`);
    assert.deepEqual(parseOverlay(overlay), { image: "/img/my disk.qcow2", pointId: C });
    assert.equal(parseOverlay("/img/vda.qcow2"), undefined);
    assert.equal(parseOverlay("/img/vda.virtsnap-latest.qcow2"), undefined);
  });
});

describe("overlay places", () => {
  it("a file's overlays lie beside it; a block device's in virtsnap's folder, per domain and disk", () => {
    assert.equal(overlayBase("vm", "vda", { file: "/img/vda.qcow2" }), "/img/vda.qcow2");
    assert.equal(
      overlayBase("vm", "vdc", { file: "/dev/vg0/data", block: true }),
      `${BLOCK_OVERLAY_DIR}/vm/vdc`,
    );
    const overlay = overlayPath(`${BLOCK_OVERLAY_DIR}/vm/vdc`, C);
    assert.equal(parseOverlay(overlay)?.image, `${BLOCK_OVERLAY_DIR}/vm/vdc`);
  });
});
