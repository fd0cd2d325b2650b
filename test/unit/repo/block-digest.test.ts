import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import {
  BLOCK_SIZE,
  BlockHasher,
  blockDigest,
  isBlockDigest,
} from "../../../src/repo/block-digest.js";

/** The definition in README.md, written out the slow way. */
function byDefinition(data: Buffer): string {
  const outer = createHash("sha256");
  for (let at = 0; at < data.length; at += BLOCK_SIZE)
    outer.update(
      createHash("sha256")
        .update(data.subarray(at, at + BLOCK_SIZE))
        .digest(),
    );
  return `sha256-4m:${outer.digest("hex")}`;
}

describe("block digest (catalog format 2)", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-digest-"));
  after(() => fs.rm(dir, { recursive: true, force: true }));

  const sizes = [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 9 * BLOCK_SIZE + 12345];
  for (const size of sizes) {
    it(`a file of ${size} bytes: worker threads, the streaming hasher and the definition agree`, async () => {
      const data = randomBytes(size);
      const file = path.join(dir, `f${size}`);
      await fs.writeFile(file, data);
      let seen = 0;
      const digest = await blockDigest(file, (n) => {
        seen += n;
      });
      assert.ok(isBlockDigest(digest), digest);
      assert.equal(digest, byDefinition(data));
      const streamed = new BlockHasher();
      // Odd chunk sizes cross block boundaries.
      for (let at = 0; at < size; at += 1_000_003)
        streamed.update(data.subarray(at, at + 1_000_003));
      assert.equal(streamed.digest(), digest);
      assert.equal(seen, size, "every byte reported once");
    });
  }

  it("an empty file is the SHA-256 of nothing", async () => {
    const file = path.join(dir, "empty");
    await fs.writeFile(file, "");
    assert.equal(await blockDigest(file), `sha256-4m:${createHash("sha256").digest("hex")}`);
  });

  it("one flipped byte changes the digest", async () => {
    const data = randomBytes(3 * BLOCK_SIZE);
    const file = path.join(dir, "flip");
    await fs.writeFile(file, data);
    const before = await blockDigest(file);
    data[2 * BLOCK_SIZE + 7] = (data[2 * BLOCK_SIZE + 7] ?? 0) ^ 1;
    await fs.writeFile(file, data);
    assert.notEqual(await blockDigest(file), before);
  });

  it("a missing file is an error, not a digest", async () => {
    await assert.rejects(blockDigest(path.join(dir, "nope")), /ENOENT/);
  });

  it("only sha256-4m: and 64 hex digits is a block digest", () => {
    assert.equal(isBlockDigest(`sha256-4m:${"a".repeat(64)}`), true);
    assert.equal(isBlockDigest("a".repeat(64)), false);
    assert.equal(isBlockDigest(`sha256-4m:${"A".repeat(64)}`), false);
  });
});
