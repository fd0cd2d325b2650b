import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rotateWiring } from "../../../../src/cli/commands/rotate.js";
import { renderRotate } from "../../../../src/cli/render.js";
import type { RotateReport } from "../../../../src/commands/rotate.js";
import { inputOf } from "../parse.js";

describe("rotate", () => {
  it("options -> input, with the metrics file for the refresh afterwards", () => {
    const words = ["web01", "-b", "/srv", "--keep-chains", "2", "--dry-run"];
    assert.deepEqual(inputOf(rotateWiring, [...words, "--metrics-file", "/m.prom"]), {
      domain: "web01",
      backupDir: "/srv",
      keepChains: 2,
      dryRun: true,
      metricsFile: "/m.prom",
    });
    const env = { VIRTSNAP_BACKUP_DIR: "/env" };
    assert.deepEqual(inputOf(rotateWiring, ["web01", "--keep-chains", "1"], env), {
      domain: "web01",
      backupDir: "/env",
      keepChains: 1,
      dryRun: false,
      metricsFile: undefined,
    });
  });

  it("--keep-chains is required and a whole number", () => {
    assert.throws(() => inputOf(rotateWiring, ["web01", "-b", "/srv"]), /--keep-chains/);
    const words = ["web01", "-b", "/srv", "--keep-chains", "x"];
    assert.throws(() => inputOf(rotateWiring, words), /whole number/);
  });

  it("report -> the rendered text, exit 0", () => {
    const report: RotateReport = {
      domain: "web01",
      dryRun: false,
      removed: ["c1"],
      kept: ["c2"],
      removedChains: [{ id: "c1", points: 3, bytes: 1024 }],
    };
    assert.deepEqual(rotateWiring.output(report, undefined), {
      data: report,
      text: renderRotate(report),
    });
  });
});
