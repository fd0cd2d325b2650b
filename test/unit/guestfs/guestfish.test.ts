import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  diskIndexOf,
  guestfish,
  parseFilesystems,
  parseListenPid,
  parseStats,
} from "../../../src/guestfs/guestfish.js";
import { typeOf } from "../../../src/guestfs/session.js";

describe("guestfish output and commands", () => {
  it("always opens images read-only, and reads the server's PID", () => {
    const cmd = guestfish.listen(["/r/a.qcow2", "/r/b c.qcow2"]);
    assert.deepEqual(cmd.args, [
      "--listen",
      "--ro",
      "--format=qcow2",
      "-a",
      "/r/a.qcow2",
      "--format=qcow2",
      "-a",
      "/r/b c.qcow2",
    ]);
    assert.equal(cmd.mutates, false);
    assert.equal(parseListenPid("GUESTFISH_PID=19364; export GUESTFISH_PID\n"), 19364);
    assert.equal(parseListenPid("nothing"), undefined);
  });

  it("lists mountable filesystems and the disk each sits on", () => {
    const fs = parseFilesystems(
      "/dev/sda: ext4\n/dev/sdb1: xfs\n/dev/sdb2: swap\n/dev/vg/lv: ext4\n/dev/sdc: unknown\n",
    );
    assert.deepEqual(
      fs.map((f) => f.device),
      ["/dev/sda", "/dev/sdb1", "/dev/vg/lv"],
    );
    assert.deepEqual(
      ["/dev/sda", "/dev/sdb1", "/dev/sdz", "/dev/sdaa3", "/dev/vg/lv"].map(diskIndexOf),
      [0, 1, 25, 26, undefined],
    );
  });

  it("parses lstatns (one struct) and lstatnslist ([n] = { ... })", () => {
    assert.deepEqual(parseStats("st_mode: 33188\nst_uid: 1234\nst_size: 5\n"), [
      { st_mode: 33188, st_uid: 1234, st_size: 5 },
    ]);
    const two = parseStats(
      "[0] = {\n  st_mode: 16877\n}\n[1] = {\n  st_mode: 41471\n  st_size: 5\n}\n",
    );
    assert.deepEqual(two, [{ st_mode: 16877 }, { st_mode: 41471, st_size: 5 }]);
    assert.deepEqual([16877, 33188, 41471, 8592].map(typeOf), [
      "directory",
      "file",
      "symlink",
      "char",
    ]);
  });
});

describe("guest filesystems", () => {
  it("orders filesystems by disk, then partition number (sda2 before sda10)", () => {
    const found = parseFilesystems(
      "/dev/vg/lv: ext4\n/dev/sdaa1: ext4\n/dev/sda10: ext4\n/dev/sdb1: xfs\n/dev/sda2: ext4\n/dev/sdz: ext4\n/dev/sda: ext4\n",
    );
    assert.deepEqual(
      found.map((f) => f.device),
      ["/dev/sda", "/dev/sda2", "/dev/sda10", "/dev/sdb1", "/dev/sdz", "/dev/sdaa1", "/dev/vg/lv"],
    );
  });
});
