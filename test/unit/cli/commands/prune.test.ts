import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pruneWiring } from "../../../../src/cli/commands/prune.js";
import { renderPrune } from "../../../../src/cli/render.js";
import type { PruneReport } from "../../../../src/commands/prune.js";
import { inputOf } from "../parse.js";

describe("prune", () => {
  it("the --keep-* rules become the policy; unset rules keep 0", () => {
    const words = ["web01", "-b", "/srv", "--keep-last", "3", "--keep-weekly", "4"];
    assert.deepEqual(inputOf(pruneWiring, [...words, "--metrics-file", "/m.prom"]), {
      domain: "web01",
      backupDir: "/srv",
      policy: { last: 3, hourly: 0, daily: 0, weekly: 4, monthly: 0 },
      dryRun: false,
      metricsFile: "/m.prom",
    });
    const all = ["--keep-hourly", "1", "--keep-daily", "2", "--keep-monthly", "5", "--dry-run"];
    const input = inputOf(pruneWiring, ["web01", ...all], { VIRTSNAP_BACKUP_DIR: "/e" });
    assert.deepEqual(input, {
      domain: "web01",
      backupDir: "/e",
      policy: { last: 0, hourly: 1, daily: 2, weekly: 0, monthly: 5 },
      dryRun: true,
      metricsFile: undefined,
    });
  });

  it("refuses a rule that is not a whole number, and no backup dir", () => {
    assert.throws(() => inputOf(pruneWiring, ["web01", "--keep-last", "-1"]), /whole number/);
    assert.throws(() => inputOf(pruneWiring, ["web01", "--keep-last", "1"]), /no backup dir/);
  });

  it("report -> the rendered text, exit 0", () => {
    const report: PruneReport = {
      domain: "web01",
      dryRun: true,
      kept: [{ id: "p2", reasons: ["last"] }],
      removed: ["p1"],
      merges: [],
      bytesBefore: 2048,
      bytesAfter: 1024,
      removedBytes: 1024,
      interruptedPrune: [],
    };
    assert.deepEqual(pruneWiring.output(report, undefined), {
      data: report,
      text: renderPrune(report),
    });
  });
});
