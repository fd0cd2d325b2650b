import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bytesToCopy,
  isVirtsnapOverlay,
  overlaysOf,
  ownImage,
  top,
  trackedPointId,
  withMerged,
  withOverlay,
} from "../../../src/chain/live-chain.js";
import { overlayPath } from "../../../src/chain/names.js";
import type { Chain, Layer } from "../../../src/types.js";
import { layer, layers } from "./scripted.js";

const P1 = "20260101T000000Z";
const P2 = "20260102T000000Z";
const OWN = "/img/vda.qcow2";
const TEMPLATE = "/img/template.qcow2";

/** A linked clone after a run that died: two virtsnap overlays over the own image over a template. */
const chain: Chain = {
  target: "vda",
  layers: layers(overlayPath(OWN, P2), overlayPath(OWN, P1), OWN, TEMPLATE),
};

describe("the live chain", () => {
  it("the own image is the topmost layer virtsnap did not make; the overlays are above it", () => {
    assert.equal(ownImage(chain).file, OWN);
    assert.deepEqual(
      overlaysOf(chain).map((l) => l.file),
      [overlayPath(OWN, P2), overlayPath(OWN, P1)],
    );
    assert.equal(top(chain).file, overlayPath(OWN, P2));
    assert.equal(trackedPointId(chain), P2);
    assert.equal(isVirtsnapOverlay(layer(TEMPLATE)), false);
  });

  it("a chain of its own image alone has no overlays and tracks no point", () => {
    const plain: Chain = { target: "vda", layers: layers(OWN) };
    assert.deepEqual(overlaysOf(plain), []);
    assert.equal(trackedPointId(plain), undefined);
  });

  it("a chain without an own image, or without layers, is an error", () => {
    const only: Chain = { target: "vda", layers: layers(overlayPath(OWN, P1)) };
    assert.throws(() => ownImage(only), /only virtsnap overlays/);
    assert.throws(() => top({ target: "vda", layers: [] }), /empty chain/);
  });

  it("withOverlay: a new empty qcow2 on top, backed by the old top; the rest as it was", () => {
    const next = overlayPath(OWN, "20260103T000000Z");
    const after = withOverlay(chain, next);
    assert.equal(top(after).file, next);
    assert.equal(top(after).format, "qcow2");
    assert.equal(top(after).backing, overlayPath(OWN, P2));
    assert.equal(top(after).virtualSize, top(chain).virtualSize);
    assert.deepEqual(after.layers.slice(1), chain.layers);
    assert.equal(overlaysOf(after).length, 3);
    assert.equal(chain.layers.length, 4, "the chain given is not changed");
  });

  it("withMerged: the base is the top again, the layers below it stay", () => {
    const after = withMerged(chain, overlayPath(OWN, P1));
    assert.deepEqual(
      after.layers.map((l) => l.file),
      [overlayPath(OWN, P1), OWN, TEMPLATE],
    );
    assert.deepEqual(
      withMerged(chain, OWN).layers.map((l) => l.file),
      [OWN, TEMPLATE],
    );
    assert.throws(() => withMerged(chain, "/img/other.qcow2"), /not in its chain/);
  });
});

describe("the bytes a flattened copy holds at most", () => {
  it("files count what they take on disk, a block device its whole size", () => {
    const [overlay, own] = layers(overlayPath(OWN, P1), OWN) as [Layer, Layer];
    const files: Chain = {
      target: "vda",
      layers: [
        { ...overlay, actualSize: 3 << 20 },
        { ...own, actualSize: 5 << 20 },
      ],
    };
    assert.equal(bytesToCopy(files), 8 << 20);
    const onDevice: Chain = {
      target: "vda",
      layers: [
        { ...overlay, actualSize: 3 << 20 },
        { ...own, format: "raw", block: true, actualSize: 0, virtualSize: 1 << 30 },
      ],
    };
    assert.equal(bytesToCopy(onDevice), (1 << 30) + (3 << 20));
  });
});
