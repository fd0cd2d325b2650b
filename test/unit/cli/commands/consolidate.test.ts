import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { consolidateWiring } from "../../../../src/cli/commands/consolidate.js";
import { renderConsolidate } from "../../../../src/cli/render.js";
import type { ConsolidateReport } from "../../../../src/commands/consolidate.js";
import { inputOf } from "../parse.js";

describe("consolidate", () => {
  it("options -> input; no backup directory needed", () => {
    assert.deepEqual(inputOf(consolidateWiring, ["web01"]), {
      domain: "web01",
      method: "commit",
      allLayers: false,
    });
    assert.deepEqual(inputOf(consolidateWiring, ["web01", "--method", "pull", "--all-layers"]), {
      domain: "web01",
      method: "pull",
      allLayers: true,
    });
    assert.throws(() => inputOf(consolidateWiring, ["web01", "--method", "x"]), /Allowed/);
  });

  it("report -> the rendered text, exit 0", () => {
    const report: ConsolidateReport = { domain: "web01", disks: [] };
    assert.deepEqual(consolidateWiring.output(report, undefined), {
      data: report,
      text: renderConsolidate(report),
    });
  });
});
