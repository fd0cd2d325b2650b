import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkpointName, checkpointOf, isOurs, pointOfCheckpoint } from "../../../src/cbt/names.js";
import { planCbt } from "../../../src/cbt/plan.js";
import { emptyCatalog, withPoint } from "../../../src/repo/catalog.js";
import type { Catalog, Chain, RestorePoint } from "../../../src/types.js";

const OURS = "0123abcd";
const THEIRS = "89abcdef";
const A = "20260101T000000Z";
const B = "20260102T000000Z";
const C = "20260103T000000Z";

function cbtPoint(id: string, level: "full" | "inc" | "copy", checkpoint?: string): RestorePoint {
  return {
    id,
    time: "",
    mode: "cbt",
    level,
    chain: A,
    parent: level === "inc" ? A : null,
    quiesced: false,
    disks: [],
    ...(checkpoint ? { checkpoint } : {}),
  };
}

function catalogOf(repoId: string | undefined, ...points: RestorePoint[]): Catalog {
  const empty = emptyCatalog({ name: "vm", uuid: "u" });
  return points.reduce(withPoint, repoId ? { ...empty, repoId } : empty);
}

describe("checkpoint names", () => {
  it("a name carries the repository id and the point id; old names only the point id", () => {
    assert.equal(checkpointName(OURS, A), `virtsnap-${OURS}-${A}`);
    assert.equal(pointOfCheckpoint(checkpointName(OURS, A)), A);
    assert.equal(pointOfCheckpoint(`virtsnap-${A}`), A);
    assert.equal(pointOfCheckpoint("virtnbdbackup.0"), undefined);
    assert.equal(pointOfCheckpoint(`virtsnap-${A}-x`), undefined);
  });

  it("a point's checkpoint: recorded, else the old name; copies and snapshot points have none", () => {
    assert.equal(
      checkpointOf(cbtPoint(A, "full", checkpointName(OURS, A))),
      `virtsnap-${OURS}-${A}`,
    );
    assert.equal(checkpointOf(cbtPoint(A, "full")), `virtsnap-${A}`);
    assert.equal(checkpointOf(cbtPoint(B, "copy")), undefined);
    assert.equal(checkpointOf({ ...cbtPoint(A, "full"), mode: "snapshot" }), undefined);
  });

  it("ours: our id, or an old name of a point our catalog lists; never another's or a foreign one", () => {
    const catalog = catalogOf(
      OURS,
      cbtPoint(A, "full"),
      cbtPoint(B, "inc", checkpointName(OURS, B)),
    );
    const ours = (name: string) => isOurs(catalog, name);
    assert.equal(ours(`virtsnap-${A}`), true, "old name of a listed point");
    assert.equal(ours(checkpointName(OURS, B)), true);
    assert.equal(ours(checkpointName(OURS, C)), true, "our id, point never saved: a stray of ours");
    assert.equal(ours(checkpointName(THEIRS, A)), false, "another repository, same point id");
    assert.equal(ours(`virtsnap-${C}`), false, "old name of a point we do not list");
    assert.equal(ours("virtnbdbackup.0"), false);
    assert.equal(ours("my-checkpoint"), false);
    assert.equal(isOurs(catalog, `virtsnap-${C}`, [`virtsnap-${C}`]), true, "just pruned away");
    assert.equal(isOurs(catalogOf(undefined), checkpointName(OURS, A)), false, "no id: none ours");
  });

  it("an inc after an upgrade: from the old-named checkpoint, the new one named with our id", () => {
    const chain: Chain = {
      target: "vda",
      layers: [
        {
          file: "/img/vda.qcow2",
          format: "qcow2",
          virtualSize: 1,
          actualSize: 0,
          backing: undefined,
          compat: "1.1",
        },
      ],
    };
    const catalog = catalogOf(
      OURS,
      cbtPoint(A, "full"),
      cbtPoint(B, "inc", checkpointName(OURS, B)),
    );
    const plan = planCbt(catalog, [chain], C, "auto");
    assert.equal(plan.incrementalFrom, checkpointName(OURS, B));
    assert.equal(plan.checkpoint, checkpointName(OURS, C));
    assert.deepEqual(plan.keep, [`virtsnap-${A}`, checkpointName(OURS, C)]);
    assert.throws(
      () => planCbt({ ...catalog, repoId: undefined }, [chain], C, "auto"),
      /repository's id/,
    );
  });
});
