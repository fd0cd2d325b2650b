import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { repairWiring } from "../../../../src/cli/commands/repair.js";
import { renderRepair } from "../../../../src/cli/render.js";
import { inputOf } from "../parse.js";

describe("repair", () => {
  it("the backup dir of -b or the environment, none is no error (the live chain only)", () => {
    const input = (words: string[], env = {}) => inputOf(repairWiring, words, env);
    assert.deepEqual(input(["web01", "-b", "/srv"]), { domain: "web01", backupDir: "/srv" });
    const env = { VIRTSNAP_BACKUP_DIR: "/e" };
    assert.deepEqual(input(["web01"], env), { domain: "web01", backupDir: "/e" });
    assert.deepEqual(input(["web01"]), { domain: "web01", backupDir: undefined });
  });

  it("report -> the rendered text, exit 0", () => {
    const report = { domain: "web01", actions: ["removed a stray overlay"] };
    assert.deepEqual(repairWiring.output(report, undefined), {
      data: report,
      text: renderRepair(report),
    });
  });
});
