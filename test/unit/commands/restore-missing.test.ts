import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { missingDisks } from "../../../src/commands/restore-missing.js";
import type { RestorePoint } from "../../../src/types.js";
import { BLOCK_XML } from "../libvirt/fixtures.js";

describe("restore: the disks a point does not hold", () => {
  it("restore names the domain's disks a point does not hold, with the recorded reason", async () => {
    const point = {
      id: "20260101T000000Z",
      disks: [{ target: "vda" }],
      excluded: [
        { target: "vdc", reason: "left out by --exclude" },
        { target: "hdc", reason: "cdrom: never backed up" },
      ],
    } as unknown as RestorePoint;
    assert.deepEqual(await missingDisks(BLOCK_XML, point), [
      { target: "vdc", reason: "left out by --exclude" },
      {
        target: "vdx",
        reason: "not recorded (a point of an older virtsnap, which skipped such disks)",
      },
    ]);
  });
});
