import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { extractWiring } from "../../../../src/cli/commands/extract.js";
import { inputOf } from "../parse.js";

describe("extract", () => {
  it("options -> input: every path, --point and --to required", () => {
    const words = ["web01", "/etc/hosts", "/srv", "--point", "p1", "--to", "/out", "-b", "/b"];
    assert.deepEqual(inputOf(extractWiring, words), {
      domain: "web01",
      backupDir: "/b",
      point: "p1",
      disk: undefined,
      paths: ["/etc/hosts", "/srv"],
      to: "/out",
    });
    assert.throws(() => inputOf(extractWiring, ["web01", "/etc", "--to", "/o"]), /--point/);
    assert.throws(() => inputOf(extractWiring, ["web01", "--point", "p", "--to", "/o"]), /path/);
  });
});
