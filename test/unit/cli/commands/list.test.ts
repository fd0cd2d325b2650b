import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { listWiring } from "../../../../src/cli/commands/list.js";
import type { DomainPoints } from "../../../../src/commands/list.js";
import { inputOf } from "../parse.js";

describe("list", () => {
  it("a domain or all of them, in the backup dir of -b or the environment", () => {
    assert.deepEqual(inputOf(listWiring, ["web01", "-b", "/srv"]), {
      domain: "web01",
      backupDir: "/srv",
    });
    assert.deepEqual(inputOf(listWiring, [], { VIRTSNAP_BACKUP_DIR: "/env" }), {
      domain: undefined,
      backupDir: "/env",
    });
    assert.throws(() => inputOf(listWiring, []), /no backup directory/);
  });

  it("--json: one domain's entry for `list DOMAIN`, {domains} for `list`", () => {
    const result: DomainPoints[] = [{ domain: "web01", points: [] }];
    const one = listWiring.output(result, { domain: "web01", backupDir: "/srv" });
    assert.deepEqual(one.data, result[0]);
    const all = listWiring.output(result, { domain: undefined, backupDir: "/srv" });
    assert.deepEqual(all.data, { domains: result });
    assert.equal(all.exitCode, undefined);
    assert.equal(
      listWiring.output([], { domain: undefined, backupDir: "/srv" }).text,
      "no backups",
    );
  });
});
