import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dateOfPointId, nextPointId, pointIdOf } from "../../../src/repo/paths.js";

const A = "20260101T000000Z";
const B = "20260101T000001Z";
const _C = "20260102T000000Z";

describe("point ids", () => {
  it("are UTC timestamps that round-trip", () => {
    const date = new Date(Date.UTC(2026, 10, 24, 21, 5, 9));
    assert.equal(pointIdOf(date), "20261124T210509Z");
    assert.equal(dateOfPointId("20261124T210509Z").getTime(), date.getTime());
    assert.throws(() => dateOfPointId("2026-11-24"), /not a point id/);
  });

  it("stay unique and ordered when two runs fall in the same second (or the clock goes back)", () => {
    const now = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 700));
    assert.equal(nextPointId(now, []), A);
    assert.equal(nextPointId(now, [A]), B);
    assert.equal(nextPointId(new Date(Date.UTC(2025, 0, 1)), [A, B]), "20260101T000002Z");
  });
});
