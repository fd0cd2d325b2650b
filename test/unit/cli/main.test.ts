import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommanderError } from "commander";
import { oneLine } from "../../../src/cli/main.js";

describe("commander's own errors", () => {
  it("are told in one line without commander's error: tag", () => {
    const error = new CommanderError(
      1,
      "commander.unknownOption",
      "error: unknown option '--lvl'\n(Did you mean --level?)",
    );
    assert.equal(oneLine(error), "unknown option '--lvl'");
  });
});
