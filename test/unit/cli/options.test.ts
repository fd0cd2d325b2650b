import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backupDir, optionalBackupDir, positiveInt } from "../../../src/cli/options.js";
import { UsageError } from "../../../src/errors.js";

describe("the backup directory: -b, else $VIRTSNAP_BACKUP_DIR", () => {
  const env = { VIRTSNAP_BACKUP_DIR: "/env" };

  it("-b wins over the environment, which is used without one", () => {
    assert.equal(backupDir("/flag", env), "/flag");
    assert.equal(backupDir(undefined, env), "/env");
    assert.equal(optionalBackupDir("/flag", env), "/flag");
    assert.equal(optionalBackupDir(undefined, env), "/env");
  });

  it("none at all: undefined where a command works without one, else a usage error", () => {
    assert.equal(optionalBackupDir(undefined, {}), undefined);
    assert.throws(() => backupDir(undefined, {}), UsageError);
    assert.throws(() => backupDir("", env), /no backup directory: give -b DIR/);
  });
});

describe("whole numbers", () => {
  it("takes digits only", () => {
    assert.equal(positiveInt("12"), 12);
    assert.equal(positiveInt("0"), 0);
    for (const bad of ["-1", "1.5", "x", "", "1e3"])
      assert.throws(() => positiveInt(bad), /expected a whole number/);
  });
});
