import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { signalExitCode } from "../../../src/cli/act.js";

describe("a run stopped by a signal", () => {
  it("exits as a shell reports a program the signal killed: 128 + its number", () => {
    assert.equal(signalExitCode("SIGINT"), 130);
    assert.equal(signalExitCode("SIGTERM"), 143);
  });
});
