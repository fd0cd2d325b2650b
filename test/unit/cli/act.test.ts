import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { signalExitCode, withExitCode } from "../../../src/cli/act.js";

describe("a run stopped by a signal", () => {
  it("exits as a shell reports a program the signal killed: 128 + its number", () => {
    assert.equal(signalExitCode("SIGINT"), 130);
    assert.equal(signalExitCode("SIGTERM"), 143);
  });

  it("a report that carries an exit code says the one the process exits with", () => {
    assert.deepEqual(withExitCode({ ok: true, exitCode: 0, domains: [] }, 130), {
      ok: false,
      exitCode: 130,
      domains: [],
    });
    assert.deepEqual(withExitCode({ domain: "x", points: [] }, 130), { domain: "x", points: [] });
  });
});
