import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { atLeast, hostFacts, parseVersions } from "../../../src/libvirt/host.js";

const VERSION = `Compiled against library: libvirt 9.0.0
Using library: libvirt 9.0.0
Using API: QEMU 9.0.0
Running hypervisor: QEMU 7.2.22
`;

describe("host probe", () => {
  it("reads libvirt and QEMU versions from virsh version", () => {
    assert.deepEqual(parseVersions(VERSION), { libvirt: "9.0.0", qemu: "7.2.22" });
    assert.deepEqual(parseVersions("garbage"), {});
  });

  it("compares dotted versions; unknown counts as new enough", () => {
    assert.ok(atLeast("7.2.22", "2.0.0"));
    assert.ok(atLeast("2.0.0", "2.0.0"));
    assert.ok(!atLeast("1.7.1", "2.0.0"));
    assert.ok(!atLeast("1.2.8", "1.2.9"));
    assert.ok(atLeast("1.10.0", "1.2.9"), "numeric, not string, comparison");
    assert.ok(atLeast(undefined, "2.0.0"));
  });

  it("cbt from domcapabilities, active commit from the versions", () => {
    const modern = hostFacts(VERSION, "<domainCapabilities><backup supported='yes'/>");
    assert.deepEqual(modern, { libvirt: "9.0.0", qemu: "7.2.22", cbt: true, activeCommit: true });
    const old = hostFacts(
      "Using library: libvirt 1.2.2\nRunning hypervisor: QEMU 1.7.1\n",
      "<domainCapabilities/>",
    );
    assert.equal(old.cbt, false);
    assert.equal(old.activeCommit, false);
  });
});
