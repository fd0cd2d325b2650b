import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  catalogAfter,
  choosePoints,
  isoWeek,
  type KeepPolicy,
  planPrune,
} from "../../../src/repo/retention.js";
import type { Catalog, Level, RestorePoint } from "../../../src/types.js";

function point(id: string, chain: string, parent: string | null, level?: Level): RestorePoint {
  const lvl = level ?? (parent ? "inc" : "full");
  return {
    id,
    time: "",
    mode: "cbt",
    level: lvl,
    chain,
    parent,
    quiesced: false,
    disks: [
      {
        target: "vda",
        file: `${chain}/vda.${id}.${lvl}.qcow2`,
        format: "qcow2",
        virtualSize: 1,
        bytes: 1,
        sha256: "",
      },
    ],
  };
}

/** A linear chain: the first id is the full, each next one an inc on the one before. */
function linear(ids: string[]): Catalog {
  const chain = ids[0] as string;
  return {
    format: 1,
    domain: { name: "d", uuid: "u" },
    chains: [{ id: chain, mode: "cbt" }],
    points: ids.map((id, i) => point(id, chain, i === 0 ? null : (ids[i - 1] as string))),
  };
}

const policy = (p: Partial<KeepPolicy>): KeepPolicy => ({
  last: 0,
  hourly: 0,
  daily: 0,
  weekly: 0,
  monthly: 0,
  ...p,
});

describe("retention: which points stay (restic's rules)", () => {
  const ids = [
    "20260302T100000Z",
    "20260302T180000Z",
    "20260306T090000Z",
    "20260309T090000Z",
    "20260310T090000Z",
    "20260310T120000Z",
  ];

  it("keep-last keeps the newest N", () => {
    const d = choosePoints(linear(ids), policy({ last: 2 }));
    assert.deepEqual([...d.keep.keys()].sort(), ids.slice(4));
    assert.deepEqual(d.remove, ids.slice(0, 4));
  });

  it("keep-daily keeps the newest point of each of the last N days that have points", () => {
    const d = choosePoints(linear(ids), policy({ daily: 3 }));
    assert.deepEqual([...d.keep.keys()].sort(), [ids[2], ids[3], ids[5]]);
  });

  it("keep-weekly uses ISO weeks (Monday first); rules add up and name their reasons", () => {
    const d = choosePoints(linear(ids), policy({ last: 1, weekly: 2 }));
    assert.deepEqual([...d.keep.keys()].sort(), [ids[2], ids[5]]);
    assert.deepEqual(d.keep.get(ids[5] as string), ["last", "weekly", "next backup builds on it"]);
    assert.deepEqual(d.keep.get(ids[2] as string), ["weekly"]);
  });

  it("keep-monthly and keep-hourly", () => {
    const d = choosePoints(linear(ids), policy({ monthly: 5 }));
    assert.deepEqual([...d.keep.keys()], [ids[5]]);
    const h = choosePoints(linear(ids), policy({ hourly: 2 }));
    assert.deepEqual([...h.keep.keys()].sort(), [ids[4], ids[5]]);
  });

  it("the point the next incremental builds on is always kept, even behind a copy", () => {
    const cat = linear(ids.slice(0, 3));
    const copyId = "20260311T000000Z";
    cat.chains.push({ id: copyId, mode: "cbt" });
    cat.points.push(point(copyId, copyId, null, "copy"));
    const d = choosePoints(cat, policy({ last: 1 }));
    assert.deepEqual([...d.keep.keys()].sort(), [ids[2], copyId]);
    assert.deepEqual(d.keep.get(ids[2] as string), ["next backup builds on it"]);
  });

  it("ISO weeks across a year boundary", () => {
    assert.equal(isoWeek(new Date("2026-01-01T00:00:00Z")), "2026-W01");
    assert.equal(isoWeek(new Date("2027-01-01T00:00:00Z")), "2026-W53");
    assert.equal(isoWeek(new Date("2025-12-29T00:00:00Z")), "2026-W01");
    assert.equal(isoWeek(new Date("2026-03-08T23:59:59Z")), "2026-W10");
    assert.equal(isoWeek(new Date("2026-03-09T00:00:00Z")), "2026-W11");
  });
});

describe("retention: how removed points are merged", () => {
  const [a, b, c, d, e] = [
    "20260101T000000Z",
    "20260102T000000Z",
    "20260103T000000Z",
    "20260104T000000Z",
    "20260105T000000Z",
  ] as const;

  it("a run of removed points in a linear chain folds into the kept point above it", () => {
    const plan = planPrune(linear([a, b, c, d, e]), [a, b, d]);
    assert.deepEqual(plan.merges, [
      { point: c, absorbs: [a, b], newParent: null, how: "fold" },
      { point: e, absorbs: [d], newParent: c, how: "fold" },
    ]);
    assert.deepEqual(plan.emptiedChains, []);
  });

  it("a full that several diffs share is copied up into each kept one (rebase)", () => {
    const cat = linear([a]);
    cat.points.push(point(b, a, a, "diff"), point(c, a, a, "diff"), point(d, a, c, "inc"));
    const plan = planPrune(cat, [a, b]);
    assert.deepEqual(plan.merges, [{ point: c, absorbs: [a], newParent: null, how: "rebase" }]);
  });

  it("removed leaves need no merge; a chain with nothing kept is emptied", () => {
    const cat = linear([a, b]);
    cat.chains.push({ id: c, mode: "cbt" });
    cat.points.push(point(c, c, null), point(d, c, c));
    const plan = planPrune(cat, [a, b, d]);
    assert.deepEqual(plan.merges, []);
    assert.deepEqual(plan.emptiedChains, [a]);
  });

  it("catalogAfter: the shape a dry run plans on after an interrupted prune is finished", () => {
    const after = catalogAfter(
      linear([a, b, c, d, e]),
      planPrune(linear([a, b, c, d, e]), [a, b, d]),
    );
    assert.deepEqual(
      after.points.map((p) => [p.id, p.level, p.parent]),
      [
        [c, "full", null],
        [e, "inc", c],
      ],
    );
    const cat = linear([a, b]);
    cat.chains.push({ id: c, mode: "cbt" });
    cat.points.push(point(c, c, null), point(d, c, c));
    assert.deepEqual(
      catalogAfter(cat, planPrune(cat, [a, b, d])).chains.map((ch) => ch.id),
      [c],
    );
  });
});
