import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Command } from "commander";
import { normalizeQuiesce, quiesceOption } from "../../../src/cli/quiesce-option.js";

/** The backup command's positional and --quiesce, parsed as main() parses them. */
function parseBackup(words: string[]): { domains: string[]; quiesce: string } {
  let seen: { domains: string[]; quiesce: string } | undefined;
  const program = new Command("virtsnap").exitOverride();
  program
    .command("backup")
    .argument("[domain...]")
    .option("-b, --backup-dir <dir>")
    .addOption(quiesceOption())
    .action((domains: string[], opts: { quiesce: string }) => {
      seen = { domains, quiesce: opts.quiesce };
    });
  program.parse(normalizeQuiesce(["node", "virtsnap", "backup", ...words]));
  assert.ok(seen, "the action ran");
  return seen;
}

describe("--quiesce and the domain after it", () => {
  it("a bare --quiesce before a domain means required and leaves the domain alone", () => {
    assert.deepEqual(parseBackup(["--quiesce", "web01", "-b", "/srv"]), {
      domains: ["web01"],
      quiesce: "required",
    });
    assert.deepEqual(parseBackup(["--quiesce", "web01", "db01"]).domains, ["web01", "db01"]);
  });

  it("--quiesce=MODE and --quiesce MODE give the mode; last or before an option: required", () => {
    assert.equal(parseBackup(["--quiesce=try", "web01"]).quiesce, "try");
    assert.deepEqual(parseBackup(["--quiesce", "off", "web01"]), {
      domains: ["web01"],
      quiesce: "off",
    });
    assert.equal(parseBackup(["web01", "--quiesce"]).quiesce, "required");
    assert.equal(parseBackup(["--quiesce", "-b", "/srv", "web01"]).quiesce, "required");
    assert.equal(parseBackup(["web01"]).quiesce, "try");
  });

  it("a wrong mode is still refused, and nothing after -- is touched", () => {
    assert.throws(() => parseBackup(["--quiesce=sometimes", "web01"]), /Allowed choices/);
    assert.deepEqual(normalizeQuiesce(["backup", "--", "--quiesce"]), [
      "backup",
      "--",
      "--quiesce",
    ]);
  });
});
