import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Context } from "../../../src/context.js";
import { CommandError } from "../../../src/errors.js";
import { silentLog } from "../../../src/log.js";
import { isNoZstd, probeCompression } from "../../../src/qemu/compression.js";

/** What differs on older hosts (QEMU 5.2 / libvirt 7.0, Debian 11): the pure parts of the fixes. */

describe("the zstd probe", () => {
  const failing = (stderr: string) =>
    ({
      log: silentLog(),
      run: async () => {
        throw new CommandError(stderr.split("\n")[0] as string, "qemu-img", stderr, 1);
      },
    }) as unknown as Context;

  it("only qemu-img's refusal of the compression type means no zstd", () => {
    assert.ok(isNoZstd("qemu-img: /tmp/p/zstd.qcow2: Invalid parameter 'zstd'"));
    assert.ok(isNoZstd("qemu-img: Parameter 'compression-type' does not accept value 'zstd'"));
    assert.ok(isNoZstd("qemu-img: /tmp/p/zstd.qcow2: Unknown compression type"));
    assert.ok(isNoZstd("qemu-img: Invalid parameter 'compression_type'"));
    const full =
      "qemu-img: /tmp/virtsnap-probe-x/zstd.qcow2: Could not create: No space left on device";
    assert.equal(isNoZstd(full), false);
    assert.equal(isNoZstd("qemu-img: Permission denied"), false);
  });

  it("falls back to zlib without zstd, and rethrows any other failure", async () => {
    assert.equal(
      await probeCompression(failing("qemu-img: /tmp/p/zstd.qcow2: Invalid parameter 'zstd'")),
      "zlib",
    );
    await assert.rejects(
      probeCompression(failing("qemu-img: /tmp/p/zstd.qcow2: No space left on device")),
      /No space left on device/,
    );
  });
});
