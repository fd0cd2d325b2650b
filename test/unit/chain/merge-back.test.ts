import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mergeBack } from "../../../src/chain/merge-back.js";
import { DOMAIN_XML, domain, scripted } from "./scripted.js";

const OVERLAY = "/img/vda.qcow2.virtsnap-20260102T000000Z.qcow2";
const BASE = { file: "/img/vda.qcow2", format: "qcow2" };

describe("mergeBack", () => {
  it("running: one active commit that pivots onto the base and deletes the overlay", async () => {
    const { ctx, calls } = scripted();
    await mergeBack(ctx, domain(true), "vda", OVERLAY, BASE);
    assert.deepEqual(calls, [
      "virsh blockcommit --domain vm --path vda --active --pivot --base /img/vda.qcow2 --wait --delete",
    ]);
  });

  it("shut off: qemu-img commit, then the domain is defined onto the base", async () => {
    const { ctx, calls } = scripted();
    await mergeBack(ctx, domain(false), "vda", OVERLAY, BASE);
    assert.equal(calls.length, 3, calls.join("\n"));
    assert.equal(calls[0], `qemu-img commit -q -b /img/vda.qcow2 ${OVERLAY}`);
    assert.equal(calls[1], "virsh dumpxml --inactive --domain vm");
    assert.match(calls[2] ?? "", /^virsh define --file /);
  });

  it("shut off, with the definition to restore given: no dumpxml", async () => {
    const { ctx, calls } = scripted();
    await mergeBack(ctx, domain(false), "vda", OVERLAY, BASE, DOMAIN_XML);
    assert.equal(calls.length, 2, calls.join("\n"));
    assert.match(calls[1] ?? "", / define --file /);
  });
});
