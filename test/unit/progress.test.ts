import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { blockJobFraction, byteLine, byteMeter, qemuImgFraction } from "../../src/progress.js";

describe("progress", () => {
  it("reads qemu-img -p and blockjob figures", () => {
    assert.equal(qemuImgFraction("    (0.00/100%)\r    (45.50/100%)\r"), 0.455);
    assert.equal(qemuImgFraction("nothing"), undefined);
    assert.equal(blockJobFraction(" type=Commit,bandwidth=0,cur=25,end=100"), 0.25);
    assert.equal(blockJobFraction(" type=Commit,bandwidth=0,cur=0,end=0"), undefined);
  });
});

describe("byte progress (checksum phase, verify)", () => {
  it("says bytes done of the total, the rate so far and the time left", () => {
    assert.equal(
      byteLine("verify", 512 * 1024 * 1024, 2048 * 1024 * 1024, 2),
      "verify 512.0 MiB/2.0 GiB 256.0 MiB/s ETA 6s",
    );
    assert.equal(byteLine("checksum", 0, 10, 0), "checksum 0 B/10 B 0 B/s");
  });

  it("a meter feeds the bar with a fraction that counts a total growing as files queue", () => {
    const seen: [string, number][] = [];
    const bar = { enabled: true, update: (l: string, f: number) => seen.push([l, f]), clear() {} };
    let left = 300;
    let t = 0;
    const meter = byteMeter(
      bar,
      "checksum",
      () => left,
      () => t,
    );
    t = 1000;
    left = 100;
    meter(100);
    assert.deepEqual(seen.at(-1), ["checksum 100 B/200 B 100 B/s ETA 1s", 0.5]);
    left = 0;
    meter(100);
    assert.equal(seen.at(-1)?.[1], 1);
  });
});
