import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { OperationError } from "../../../src/errors.js";
import {
  catalogProblem,
  emptyCatalog,
  findPoint,
  readCatalog,
  withoutChains,
  withPoint,
  withRepoId,
  writeCatalog,
} from "../../../src/repo/catalog.js";
import type { Catalog, RestorePoint } from "../../../src/types.js";

function point(id: string, chain: string, parent: string | null): RestorePoint {
  const level = parent ? "inc" : "full";
  return {
    id,
    time: "2026-01-01T00:00:00.000Z",
    mode: "snapshot",
    level,
    chain,
    parent,
    quiesced: false,
    disks: [
      {
        target: "vda",
        file: `${chain}/vda.${id}.${level}.qcow2`,
        format: "qcow2",
        virtualSize: 1,
        bytes: 1,
        digest: `sha256-4m:${"0".repeat(64)}`,
      },
    ],
  };
}

const A = "20260101T000000Z";
const B = "20260101T000001Z";
const C = "20260102T000000Z";

function goodCatalog(): Catalog {
  return [point(A, A, null), point(B, A, A), point(C, C, null)].reduce(
    withPoint,
    emptyCatalog({ name: "vm", uuid: "u" }),
  );
}

describe("catalog validation", () => {
  it("accepts a good catalog", () => {
    assert.equal(catalogProblem(goodCatalog()), undefined);
  });

  it("accepts a format-1 catalog, whose disks carry a whole-file sha256", () => {
    const old = goodCatalog();
    const points = old.points.map((p) => ({
      ...p,
      disks: p.disks.map(({ digest: _, ...d }) => ({ ...d, sha256: "a".repeat(64) })),
    }));
    assert.equal(catalogProblem({ ...old, format: 1, points }), undefined);
  });

  const broken: [string, (c: Catalog) => unknown, RegExp][] = [
    ["unknown format", (c) => ({ ...c, format: 3 }), /unknown format/],
    [
      "a format-2 disk with only a sha256",
      (c) => ({
        ...c,
        points: c.points.map((p) => ({
          ...p,
          disks: p.disks.map((d) => ({ target: d.target, file: d.file, sha256: "x" })),
        })),
      }),
      /without a block digest/,
    ],
    ["no domain", (c) => ({ ...c, domain: undefined }), /no domain/],
    ["points out of order", (c) => ({ ...c, points: [...c.points].reverse() }), /out of order/],
    ["unknown chain", (c) => ({ ...c, chains: c.chains.slice(1) }), /unknown chain/],
    ["unknown parent", (c) => ({ ...c, points: [c.points[1]] }), /unknown parent/],
    ["absolute file", (c) => withFile(c, "/etc/passwd"), /bad disks/],
    ["escaping file", (c) => withFile(c, `${A}/../../x.qcow2`), /bad disks/],
    ["bad id", (c) => ({ ...c, points: [{ ...c.points[0], id: "yesterday" }] }), /bad point id/],
  ];
  for (const [what, mutate, message] of broken) {
    it(`rejects ${what}`, () => {
      assert.match(catalogProblem(mutate(goodCatalog())) ?? "", message);
    });
  }

  function withFile(c: Catalog, file: string): Catalog {
    const [first, ...rest] = c.points as [RestorePoint, ...RestorePoint[]];
    return {
      ...c,
      points: [
        { ...first, disks: [{ ...first.disks[0], file } as RestorePoint["disks"][0]] },
        ...rest,
      ],
    };
  }
});

describe("catalog edits", () => {
  it("withPoint adds a chain only for a point that starts one", () => {
    const c = goodCatalog();
    assert.deepEqual(
      c.chains.map((ch) => ch.id),
      [A, C],
    );
    assert.equal(c.points.length, 3);
  });

  it("withoutChains drops the chains and all their points", () => {
    const c = withoutChains(goodCatalog(), new Set([A]));
    assert.deepEqual(
      c.points.map((p) => p.id),
      [C],
    );
    assert.equal(catalogProblem(c), undefined);
  });

  it("findPoint understands latest", () => {
    assert.equal(findPoint(goodCatalog(), "latest")?.id, C);
    assert.equal(findPoint(goodCatalog(), B)?.id, B);
    assert.equal(findPoint(goodCatalog(), "nope"), undefined);
  });
});

describe("catalog files", () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-unit-"));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("a missing catalog means no backups yet", async () => {
    assert.equal(await readCatalog(path.join(dir, "none")), undefined);
  });

  it("is written 0600, atomically, and reads back equal", async () => {
    await writeCatalog(dir, goodCatalog());
    const st = await fs.stat(path.join(dir, "virtsnap.json"));
    assert.equal(st.mode & 0o777, 0o600);
    assert.deepEqual(await fs.readdir(dir), ["virtsnap.json"]);
    assert.deepEqual(await readCatalog(dir), goodCatalog());
  });

  it("a damaged catalog is refused and left as it is", async () => {
    const file = path.join(dir, "virtsnap.json");
    for (const text of [
      "{ not json",
      JSON.stringify({
        format: 1,
        domain: { name: "x", uuid: "" },
        chains: [],
        points: [{ id: "x" }],
      }),
    ]) {
      await fs.writeFile(file, text);
      await assert.rejects(
        readCatalog(dir),
        (e: unknown) => e instanceof OperationError && /refusing to touch/.test(e.message),
      );
      assert.equal(await fs.readFile(file, "utf8"), text);
    }
  });

  it("a catalog newer than this build is refused in one line that says so", async () => {
    await fs.writeFile(path.join(dir, "virtsnap.json"), JSON.stringify({ format: 3 }));
    await assert.rejects(
      readCatalog(dir),
      (e: unknown) =>
        e instanceof OperationError &&
        /is catalog format 3, newer than this virtsnap reads \(1 and 2\)/.test(e.message) &&
        !e.message.includes("\n"),
    );
  });
});

function catalogWithoutId(): Catalog {
  return emptyCatalog({ name: "vm", uuid: "u" });
}

describe("the repository id", () => {
  it("the repository id is made once, kept, and a bad one makes the catalog damaged", async () => {
    const first = await withRepoId("/nonexistent", catalogWithoutId(), false);
    assert.match(first.repoId ?? "", /^[0-9a-f]{8}$/);
    assert.equal(await withRepoId("/nonexistent", first, false), first);
    assert.equal(catalogProblem(first), undefined);
    assert.match(catalogProblem({ ...first, repoId: "x/../y" }) ?? "", /bad repository id/);
  });
});
