import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CACHED_COPY_MAX, writebackRoom } from "../../../src/repo/files.js";

const GiB = 1024 ** 3;

describe("room below the kernel's background writeback threshold", () => {
  it("is dirty_background_ratio percent of the available memory", () => {
    const room = writebackRoom({ backgroundBytes: 0, backgroundRatio: 10, memAvailable: 20 * GiB });
    assert.equal(room, 2 * GiB);
  });

  it("is dirty_background_bytes when that is set (the ratio is 0 then)", () => {
    const limits = { backgroundBytes: 256 << 20, backgroundRatio: 0, memAvailable: 20 * GiB };
    assert.equal(writebackRoom(limits), 256 << 20);
  });

  it("is at most 4 GiB, however much memory is free or however high the bytes are set", () => {
    const big = { backgroundBytes: 0, backgroundRatio: 10, memAvailable: 500 * GiB };
    assert.equal(writebackRoom(big), CACHED_COPY_MAX);
    assert.equal(CACHED_COPY_MAX, 4 * GiB);
    const bytes = { backgroundBytes: 64 * GiB, backgroundRatio: 0, memAvailable: 500 * GiB };
    assert.equal(writebackRoom(bytes), 4 * GiB);
  });

  it("is nothing where the limits cannot be read: every full goes past the cache", () => {
    assert.equal(writebackRoom({ backgroundBytes: 0, backgroundRatio: 0, memAvailable: 0 }), 0);
  });
});
