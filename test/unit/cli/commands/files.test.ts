import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { filesWiring } from "../../../../src/cli/commands/files.js";
import { inputOf } from "../parse.js";

describe("files", () => {
  it("options -> input: the path defaults to /, the point to latest", () => {
    assert.deepEqual(inputOf(filesWiring, ["web01", "-b", "/srv"]), {
      domain: "web01",
      backupDir: "/srv",
      point: "latest",
      disk: undefined,
      path: "/",
    });
    const words = ["web01", "/dev/sda1:/etc", "--point", "p1", "--disk", "vdb"];
    assert.deepEqual(inputOf(filesWiring, words, { VIRTSNAP_BACKUP_DIR: "/e" }), {
      domain: "web01",
      backupDir: "/e",
      point: "p1",
      disk: "vdb",
      path: "/dev/sda1:/etc",
    });
  });
});
