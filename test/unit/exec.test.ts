import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { firstErrorLine, showCmd } from "../../src/exec.js";

describe("showCmd", () => {
  it("showCmd quotes what a shell would split (for logs only)", () => {
    assert.equal(
      showCmd({ file: "qemu-img", args: ["info", "/a b/it's"], mutates: false }),
      `qemu-img info '/a b/it'\\''s'`,
    );
    assert.equal(
      showCmd({ file: "virsh", args: ["list", "--all"], mutates: false }),
      "virsh list --all",
    );
  });
});

/** What differs on older hosts (QEMU 5.2 / libvirt 7.0, Debian 11): the pure parts of the fixes. */

describe("firstErrorLine", () => {
  it("keeps qemu-img's own reason, not its trailing --help hint", () => {
    const stderr =
      "qemu-img: unrecognized option '-F'\nTry 'qemu-img --help' for more information\n";
    assert.equal(firstErrorLine(stderr, "qemu-img"), "qemu-img: unrecognized option '-F'");
  });

  it("takes the first qemu-img line when there are several", () => {
    const stderr =
      "qemu-img: /b/vda.partial: error while converting qcow2: Invalid parameter 'zstd'\nqemu-img: other\n";
    assert.match(firstErrorLine(stderr, "/usr/bin/qemu-img") ?? "", /Invalid parameter 'zstd'/);
  });

  it("still prefers virsh's last error: line", () => {
    const stderr = "error: Failed to start\nerror: Operation not supported: no backup\n";
    assert.equal(firstErrorLine(stderr, "virsh"), "Operation not supported: no backup");
  });

  it("falls back to the last line of other programs, and to nothing for empty stderr", () => {
    assert.equal(firstErrorLine("warming up\nit broke\n", "dd"), "it broke");
    assert.equal(firstErrorLine("  \n", "dd"), undefined);
  });
});
