import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { blockJobFraction, qemuImgFraction } from "../../src/progress.js";

describe("progress", () => {
  it("reads qemu-img -p and blockjob figures", () => {
    assert.equal(qemuImgFraction("    (0.00/100%)\r    (45.50/100%)\r"), 0.455);
    assert.equal(qemuImgFraction("nothing"), undefined);
    assert.equal(blockJobFraction(" type=Commit,bandwidth=0,cur=25,end=100"), 0.25);
    assert.equal(blockJobFraction(" type=Commit,bandwidth=0,cur=0,end=0"), undefined);
  });
});
