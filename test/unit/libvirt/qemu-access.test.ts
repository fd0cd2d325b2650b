import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { qemuIdentity } from "../../../src/libvirt/qemu-access.js";

describe("qemu access", () => {
  it("qemuIdentity reads the DAC label of the live XML", () => {
    const xml =
      "<seclabel type='dynamic' model='dac' relabel='yes'>\n    <label>+64055:+64055</label>\n</seclabel>";
    assert.deepEqual(qemuIdentity(xml), { uid: 64055, gid: 64055 });
    assert.equal(qemuIdentity("<seclabel type='none' model='selinux'/>"), undefined);
  });
});
