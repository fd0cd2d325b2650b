import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { instantOptions, restoreWiring } from "../../../../src/cli/commands/restore.js";
import { renderRestore } from "../../../../src/cli/render.js";
import type { RestoreReport } from "../../../../src/commands/restore.js";
import { UsageError } from "../../../../src/errors.js";
import { inputOf } from "../parse.js";

describe("restore: options -> input", () => {
  it("every option, and the defaults", () => {
    const words = ["web01", "-b", "/srv", "--point", "p1", "--to", "/r", "--format", "raw"];
    assert.deepEqual(inputOf(restoreWiring, [...words, "--disk", "vda", "--define", "copy"]), {
      domain: "web01",
      backupDir: "/srv",
      point: "p1",
      to: "/r",
      format: "raw",
      disks: ["vda"],
      define: "copy",
      instant: false,
    });
    assert.deepEqual(
      inputOf(restoreWiring, ["web01", "--to", "/r"], { VIRTSNAP_BACKUP_DIR: "/e" }),
      {
        domain: "web01",
        backupDir: "/e",
        point: "latest",
        to: "/r",
        format: "qcow2",
        disks: undefined,
        define: undefined,
        instant: false,
      },
    );
  });

  it("--to is required; the backup dir is asked for before the names are checked", () => {
    assert.throws(() => inputOf(restoreWiring, ["web01"]), /--to <dir>/);
    const words = ["web01", "--to", "/r", "--define", "a", "--instant", "b"];
    assert.throws(() => inputOf(restoreWiring, words), /no backup directory/);
  });

  it("--instant NAME or --define NAME --instant name the new domain; two names are refused", () => {
    assert.deepEqual(instantOptions(undefined, "copy"), { define: "copy", instant: true });
    assert.deepEqual(instantOptions("copy", true), { define: "copy", instant: true });
    assert.deepEqual(instantOptions("copy", "copy"), { define: "copy", instant: true });
    assert.deepEqual(instantOptions("copy", undefined), { define: "copy", instant: false });
    assert.deepEqual(instantOptions(undefined, true), { define: undefined, instant: true });
    assert.throws(() => instantOptions("a", "b"), UsageError);
  });
});

describe("restore: report -> output", () => {
  it("prints the rendered report and exits 0", () => {
    const report: RestoreReport = {
      domain: "web01",
      point: "p1",
      files: [{ target: "vda", file: "/r/vda.qcow2" }],
      xml: "/r/web01.xml",
      started: false,
      resumed: false,
      missing: [],
    };
    const output = restoreWiring.output(report, undefined);
    assert.deepEqual(output, { data: report, text: renderRestore(report) });
  });
});
