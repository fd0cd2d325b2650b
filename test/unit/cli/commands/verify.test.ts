import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { verifyWiring } from "../../../../src/cli/commands/verify.js";
import { renderVerify } from "../../../../src/cli/render.js";
import type { VerifyReport } from "../../../../src/commands/verify.js";
import { inputOf } from "../parse.js";

describe("verify", () => {
  it("options -> input", () => {
    assert.deepEqual(inputOf(verifyWiring, ["web01", "-b", "/srv", "--point", "p1"]), {
      domain: "web01",
      backupDir: "/srv",
      point: "p1",
    });
    assert.deepEqual(inputOf(verifyWiring, ["web01"], { VIRTSNAP_BACKUP_DIR: "/e" }), {
      domain: "web01",
      backupDir: "/e",
      point: undefined,
    });
  });

  it("a damaged repository exits 1 with the report printed; a sound one 0", () => {
    const damaged: VerifyReport = {
      domain: "web01",
      ok: false,
      points: [{ id: "p1", ok: false, problems: ["vda.qcow2: sha256 differs"] }],
    };
    assert.deepEqual(verifyWiring.output(damaged, undefined), {
      data: damaged,
      text: renderVerify(damaged),
      exitCode: 1,
    });
    const sound: VerifyReport = { domain: "web01", ok: true, points: [] };
    assert.equal(verifyWiring.output(sound, undefined).exitCode, 0);
  });
});
