import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { commandOf, errorDocument, wantsJson } from "../../../src/cli/error-document.js";

describe("JSON documents of failures", () => {
  it("backup keeps its report's shape; other commands print ok/error/exitCode", () => {
    const backup = errorDocument("backup", "unknown option '--x'", 2);
    assert.deepEqual(Object.keys(backup), [
      "ok",
      "exitCode",
      "error",
      "host",
      "domains",
      "summary",
    ]);
    assert.equal((backup as { ok: boolean }).ok, false);
    assert.deepEqual(errorDocument("list", "no", 2), { ok: false, error: "no", exitCode: 2 });
  });

  it("finds the command and --json among the words", () => {
    const names = ["backup", "list"];
    assert.equal(commandOf(names, ["-c", "qemu:///system", "--json", "backup", "x"]), "backup");
    assert.equal(commandOf(names, ["--json", "nosuch"]), undefined);
    assert.equal(wantsJson(["backup", "x", "--json"]), true);
    assert.equal(wantsJson(["backup", "--", "--json"]), false);
  });
});
