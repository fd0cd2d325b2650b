import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { commitFrozenLayers, consolidateChain } from "../../../src/chain/consolidate.js";
import { overlayPath } from "../../../src/chain/names.js";
import { OperationError } from "../../../src/errors.js";
import type { Chain } from "../../../src/types.js";
import { domain, layers, scripted } from "./scripted.js";

const OWN = "/img/vda.qcow2";
const P1 = overlayPath(OWN, "20260101T000000Z");
const P2 = overlayPath(OWN, "20260102T000000Z");
const chainOf = (...files: string[]): Chain => ({ target: "vda", layers: layers(...files) });

describe("consolidating a live chain", () => {
  it("nothing to merge: no command, not even a read", async () => {
    const { ctx, calls } = scripted();
    const chain = chainOf(P1, OWN);
    assert.equal(await consolidateChain(ctx, domain(true), chain, "commit", false), chain);
    assert.equal(
      await consolidateChain(ctx, domain(true), chainOf(OWN), "commit", true).then(
        (c) => c.layers.length,
      ),
      1,
    );
    assert.deepEqual(calls, []);
  });

  it("running: frozen layers are committed into the own image, then the chain is read once", async () => {
    const { ctx, calls, reads } = scripted({ [P2]: [P2, OWN] });
    const after = await consolidateChain(ctx, domain(true), chainOf(P2, P1, OWN), "commit", false);
    assert.deepEqual(
      after.layers.map((l) => l.file),
      [P2, OWN],
    );
    assert.deepEqual(calls, [
      `virsh blockcommit --domain vm --path vda --top ${P1} --base ${OWN} --delete`,
      "virsh blockjob --domain vm --path vda --info --raw",
      `qemu-img info -U --backing-chain --output=json ${P2}`,
    ]);
    assert.equal(reads(), 1);
  });

  it("--all-layers, running: the top is merged back into the own image", async () => {
    const { ctx, calls } = scripted({ [OWN]: [OWN] });
    const after = await consolidateChain(ctx, domain(true), chainOf(P2, P1, OWN), "commit", true);
    assert.deepEqual(
      after.layers.map((l) => l.file),
      [OWN],
    );
    assert.match(calls[0] ?? "", /blockcommit .*--active --pivot --base \/img\/vda.qcow2/);
  });

  it("after a backup: the frozen chain plus the new overlay, without reading it first", async () => {
    const NEW = overlayPath(OWN, "20260103T000000Z");
    const { ctx, reads } = scripted({ [NEW]: [NEW, OWN] });
    await commitFrozenLayers(ctx, domain(true), chainOf(P2, OWN), NEW);
    assert.equal(reads(), 1, "only the outcome of the block job is read");
  });

  it("after a backup: a block job that did nothing is an error naming the chain", async () => {
    const NEW = overlayPath(OWN, "20260103T000000Z");
    const { ctx } = scripted({ [NEW]: [NEW, P2, OWN] });
    await assert.rejects(
      commitFrozenLayers(ctx, domain(true), chainOf(P2, OWN), NEW),
      (error: unknown) =>
        error instanceof OperationError &&
        error.message ===
          `live chain is ${OWN} <- ${P2} <- ${NEW}, expected own image <- one overlay`,
    );
  });
});
