import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backupWiring } from "../../../../src/cli/commands/backup.js";
import { renderBackup } from "../../../../src/cli/render.js";
import type { BackupReport } from "../../../../src/commands/backup.js";
import { inputOf } from "../parse.js";

describe("backup: options -> input", () => {
  it("every option reaches the command", () => {
    const words = [
      ...["web01", "db01", "-b", "/srv", "--mode", "cbt", "--level", "full", "--quiesce"],
      ...["--include", "vda, vdb", "--exclude", "vdc", "--include-raw", "--full-every", "7"],
      ...["--compress", "--bandwidth", "50", "--parallel", "2", "--memory-state"],
      ...["--metrics-file", "/m.prom", "--warnings-exit", "4", "--notify-url", "http://a"],
      ...["--notify-url", "http://b", "--notify-on", "failure", "--dry-run"],
    ];
    assert.deepEqual(inputOf(backupWiring, words), {
      domains: ["web01", "db01"],
      all: false,
      allRunning: false,
      backupDir: "/srv",
      mode: "cbt",
      level: "full",
      quiesce: "required",
      filter: { include: ["vda", "vdb"], exclude: ["vdc"] },
      dryRun: true,
      fullEvery: 7,
      compress: true,
      bandwidthMiB: 50,
      parallel: 2,
      metricsFile: "/m.prom",
      warningsExit: 4,
      memoryState: true,
      notifyUrls: ["http://a", "http://b"],
      notifyOn: "failure",
    });
  });

  it("the defaults; the backup dir from the environment", () => {
    assert.deepEqual(inputOf(backupWiring, ["--all"], { VIRTSNAP_BACKUP_DIR: "/env" }), {
      domains: [],
      all: true,
      allRunning: false,
      backupDir: "/env",
      mode: "auto",
      level: "auto",
      quiesce: "try",
      filter: { include: undefined, exclude: [] },
      dryRun: false,
      fullEvery: undefined,
      compress: false,
      bandwidthMiB: undefined,
      parallel: 1,
      metricsFile: undefined,
      warningsExit: undefined,
      memoryState: false,
      notifyUrls: [],
      notifyOn: "always",
    });
  });

  it("no backup dir is left for backup to refuse (its metrics file still gets the failure)", () => {
    const input = inputOf(backupWiring, ["web01", "--metrics-file", "/m.prom"]) as {
      backupDir: string;
    };
    assert.equal(input.backupDir, "");
  });

  it("bad values are refused while parsing", () => {
    assert.throws(() => inputOf(backupWiring, ["--mode", "fast"]), /Allowed choices/);
    assert.throws(() => inputOf(backupWiring, ["--parallel", "two"]), /whole number/);
    assert.throws(() => inputOf(backupWiring, ["--include", ","]), /empty device list/);
  });
});

describe("backup: report -> output", () => {
  it("the run's exit code is the report's; the text is the rendered report", () => {
    const report: BackupReport = {
      ok: false,
      exitCode: 3,
      error: null,
      host: null,
      domains: [],
      summary: { total: 2, ok: 1, failed: 1, failedDomains: ["b"], warnings: 0 },
    };
    const output = backupWiring.output(report, undefined);
    assert.equal(output.data, report);
    assert.equal(output.exitCode, 3);
    assert.equal(output.text, renderBackup(report));
  });
});
