import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Outcome } from "../../../src/commands/backup-report.js";
import { failedDomain, runExitCode } from "../../../src/commands/backup-report.js";

describe("the exit code of a backup run", () => {
  it("the run's exit code: a lone domain's own, 1 or 3 for several, --warnings-exit", () => {
    const ok = (warnings: string[] = []): Outcome => ({
      result: { domain: "a", status: "ok", seconds: 1, skipped: [], warnings },
      exitCode: 0,
    });
    const failed = (exitCode: number): Outcome => ({ result: failedDomain("b", "x", 0), exitCode });
    assert.equal(runExitCode([failed(2)], undefined), 2);
    assert.equal(runExitCode([failed(75)], undefined), 75);
    assert.equal(runExitCode([ok(), failed(2)], undefined), 3);
    assert.equal(runExitCode([failed(2), failed(1)], undefined), 1);
    assert.equal(runExitCode([ok(["crash-consistent"])], 4), 4);
    assert.equal(runExitCode([ok()], 4), 0);
  });
});
