import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backupXml, checkpointXml, parseJobInfo } from "../../../src/libvirt/backup-xml.js";
import { parseXml } from "../../../src/libvirt/domain-xml.js";

describe("backup and checkpoint XML", () => {
  it("backupXml: push mode, incremental, per-disk full and skipped disks", async () => {
    const xml = backupXml("virtsnap-1", [
      { target: "vda", file: "/r/a b'c.qcow2", full: false },
      { target: "vdb", file: "/r/b.qcow2", full: true },
      { target: "vdc", skip: true },
    ]);
    const root = (await parseXml(xml)) as { domainbackup: Record<string, unknown> };
    const backup = root.domainbackup as {
      $: { mode: string };
      incremental: string[];
      disks: { disk: { $: Record<string, string>; target?: { $: { file: string } }[] }[] }[];
    };
    assert.equal(backup.$.mode, "push");
    assert.deepEqual(backup.incremental, ["virtsnap-1"]);
    const disks = backup.disks[0]?.disk ?? [];
    assert.equal(disks[0]?.target?.[0]?.$.file, "/r/a b'c.qcow2");
    assert.equal(disks[0]?.$.backupmode, undefined);
    assert.equal(disks[1]?.$.backupmode, "full");
    assert.deepEqual(disks[2]?.$, { name: "vdc", backup: "no" });
  });

  it("backupXml without a checkpoint to start from has no <incremental> and no backupmode", () => {
    const xml = backupXml(undefined, [{ target: "vda", file: "/r/a.qcow2", full: true }]);
    assert.doesNotMatch(xml, /incremental|backupmode/);
  });

  it("checkpointXml: bitmap for qcow2 disks, no for the others", () => {
    const xml = checkpointXml("virtsnap-2", [
      { target: "vda", bitmap: true },
      { target: "vdb", bitmap: false },
    ]);
    assert.match(xml, /<name>virtsnap-2<\/name>/);
    assert.match(xml, /<disk name="vda" checkpoint="bitmap"\/>/);
    assert.match(xml, /<disk name="vdb" checkpoint="no"\/>/);
  });

  it("parseJobInfo reads job type and sizes", () => {
    const running = parseJobInfo(
      "Job type:         Unbounded   \nOperation:        Backup\nFile processed:   80.000 MiB\nFile total:       1.500 GiB\n",
    );
    assert.deepEqual(running, { type: "Unbounded", processed: 80 * 2 ** 20, total: 1.5 * 2 ** 30 });
    assert.equal(parseJobInfo("Job type:         Failed      \n").type, "Failed");
    assert.equal(parseJobInfo("").type, "None");
  });
});
