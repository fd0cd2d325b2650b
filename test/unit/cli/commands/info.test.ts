import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { infoWiring } from "../../../../src/cli/commands/info.js";
import { inputOf } from "../parse.js";

describe("info", () => {
  it("the backup dir of -b or the environment, none is no error (no last backup told)", () => {
    const input = (words: string[], env = {}) => inputOf(infoWiring, words, env);
    assert.deepEqual(input(["web01", "-b", "/srv"]), { domain: "web01", backupDir: "/srv" });
    const env = { VIRTSNAP_BACKUP_DIR: "/e" };
    assert.deepEqual(input(["web01"], env), { domain: "web01", backupDir: "/e" });
    assert.deepEqual(input(["web01"]), { domain: "web01", backupDir: undefined });
    assert.throws(() => input([]), /missing required argument/);
  });
});
