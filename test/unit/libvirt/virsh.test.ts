import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diskSpec, virsh } from "../../../src/libvirt/virsh.js";

describe("virsh builders", () => {
  it("diskspec doubles commas in paths and says snapshot=no for skipped disks", () => {
    assert.equal(
      diskSpec({ target: "vda", overlay: "/img/a,b.qcow2" }),
      "vda,snapshot=external,driver=qcow2,file=/img/a,,b.qcow2",
    );
    assert.equal(diskSpec({ target: "hdc", skip: true }), "hdc,snapshot=no");
  });

  it("builders pass names as single arguments, whatever they contain", () => {
    const name = `x'; rm -rf / #$(id)`;
    const cmd = virsh("qemu:///system").dumpXml(name);
    assert.deepEqual(cmd.args, ["-c", "qemu:///system", "dumpxml", "--domain", name]);
    assert.equal(cmd.mutates, false);
    assert.equal(virsh("qemu:///system").define("/tmp/x.xml").mutates, true);
  });
});
