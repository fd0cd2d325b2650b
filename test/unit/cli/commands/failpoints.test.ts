import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { failpointsOutput } from "../../../../src/cli/commands/failpoints.js";

describe("debug failpoints", () => {
  it("one line per command, its steps in order; a command without steps shows -", () => {
    const table = { rotate: ["rotate.catalog", "rotate.delete-chains"], other: [] };
    const output = failpointsOutput(table as never);
    assert.equal(output.data, table);
    assert.equal(output.text, "rotate: rotate.catalog, rotate.delete-chains\nother: -");
  });
});
