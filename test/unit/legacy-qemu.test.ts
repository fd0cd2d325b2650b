/** What differs on older hosts (QEMU 5.2 / libvirt 7.0, Debian 11): the pure parts of the fixes. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveMode } from "../../src/commands/backup-plan.js";
import type { Context } from "../../src/context.js";
import { CommandError, UsageError } from "../../src/errors.js";
import { firstErrorLine } from "../../src/exec.js";
import { hostFacts } from "../../src/libvirt/host.js";
import { silentLog } from "../../src/log.js";
import { isNoZstd, probeCompression } from "../../src/qemu/compression.js";
import { qemuImg } from "../../src/qemu/qemu-img.js";

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

describe("qemu-img arguments that every version takes", () => {
  const transfer = { compress: false as const, bandwidthMiB: 5 };

  it("an incremental copy names the backing format with -o, never convert -F (QEMU < 6)", () => {
    const { args } = qemuImg.copyLayer("/s.qcow2", "/t.qcow2", "prev.qcow2", true, transfer);
    assert.ok(!args.includes("-F"), args.join(" "));
    const b = args.indexOf("-B");
    assert.deepEqual(args.slice(b, b + 4), ["-B", "prev.qcow2", "-o", "backing_fmt=qcow2"]);
    assert.deepEqual(args.slice(args.indexOf("-r"), args.indexOf("-r") + 2), ["-r", "5M"]);
  });

  it("zlib compression passes no compression_type (QEMU < 5.1 does not know it)", () => {
    const { args } = qemuImg.flatten("/s", "/t", false, {
      compress: "zlib",
      bandwidthMiB: undefined,
    });
    assert.ok(args.includes("-c") && !args.includes("-W"), args.join(" "));
    assert.ok(!args.some((a) => a.includes("compression_type")), args.join(" "));
  });

  it("zstd compression says so, in order (no -W)", () => {
    const { args } = qemuImg.flatten("/s", "/t", false, {
      compress: "zstd",
      bandwidthMiB: undefined,
    });
    assert.ok(args.includes("compression_type=zstd") && !args.includes("-W"), args.join(" "));
  });

  it("the zstd probe creates a tiny image with compression_type=zstd", () => {
    const cmd = qemuImg.createCompressed("/tmp/p/zstd.qcow2", "zstd");
    assert.deepEqual(cmd.args, [
      "create",
      "-q",
      "-f",
      "qcow2",
      "-o",
      "compression_type=zstd",
      "/tmp/p/zstd.qcow2",
      "1M",
    ]);
  });
});

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

describe("--mode cbt on a host without backup support", () => {
  const legacy = hostFacts(
    "Compiled against library: libvirt 7.0.0\nUsing library: libvirt 7.0.0\nUsing API: QEMU 7.0.0\nRunning hypervisor: QEMU 5.2.0\n",
    "<domainCapabilities><backup supported='no'/></domainCapabilities>",
  );

  it("is a usage error (exit 2) with a one-line reason", () => {
    assert.equal(legacy.cbt, false);
    assert.throws(
      () => resolveMode("cbt", [], legacy, silentLog()),
      (e: unknown) =>
        e instanceof UsageError && /no backup support; use --mode snapshot$/.test(e.message),
    );
  });

  it("auto picks snapshot mode there", () => {
    assert.equal(resolveMode("auto", [], legacy, silentLog()), "snapshot");
  });
});
