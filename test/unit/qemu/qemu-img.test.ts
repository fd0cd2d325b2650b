import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseChain, parseCheck, qemuImg } from "../../../src/qemu/qemu-img.js";

describe("qemu-img builders", () => {
  it("parseChain reads qemu-img info --backing-chain", () => {
    const json = JSON.stringify([
      {
        filename: "/img/vda.qcow2.virtsnap-20260101T000000Z.qcow2",
        format: "qcow2",
        "virtual-size": 268435456,
        "actual-size": 200704,
        "full-backing-filename": "/img/vda.qcow2",
        "format-specific": { type: "qcow2", data: { compat: "1.1" } },
      },
      {
        filename: "/img/vda.qcow2",
        format: "qcow2",
        "virtual-size": 268435456,
        "format-specific": { type: "qcow2", data: { compat: "0.10" } },
      },
    ]);
    const layers = parseChain(json);
    assert.deepEqual(
      layers.map((l) => [l.file, l.backing, l.compat, l.actualSize]),
      [
        ["/img/vda.qcow2.virtsnap-20260101T000000Z.qcow2", "/img/vda.qcow2", "1.1", 200704],
        ["/img/vda.qcow2", undefined, "0.10", 0],
      ],
    );
  });

  it("parseCheck counts problems", () => {
    assert.deepEqual(parseCheck('{"corruptions": 2, "leaks": 1, "check-errors": 0}'), {
      corruptions: 2,
      leaks: 1,
      checkErrors: 0,
    });
    assert.deepEqual(parseCheck('{"image-end-offset": 1}'), {
      corruptions: 0,
      leaks: 0,
      checkErrors: 0,
    });
  });
});

/** What differs on older hosts (QEMU 5.2 / libvirt 7.0, Debian 11): the pure parts of the fixes. */

describe("qemu-img arguments that every version takes", () => {
  const transfer = { compress: false as const, bandwidthMiB: 5 };

  it("an incremental copy names the backing format with -o, never convert -F (QEMU < 6)", () => {
    const { args } = qemuImg.copyLayer("/s.qcow2", "/t.qcow2", "prev.qcow2", {
      shared: true,
      transfer,
    });
    assert.ok(!args.includes("-F"), args.join(" "));
    const b = args.indexOf("-B");
    assert.deepEqual(args.slice(b, b + 4), ["-B", "prev.qcow2", "-o", "backing_fmt=qcow2"]);
    assert.deepEqual(args.slice(args.indexOf("-r"), args.indexOf("-r") + 2), ["-r", "5M"]);
  });

  it("zlib compression passes no compression_type (QEMU < 5.1 does not know it)", () => {
    const transfer = { compress: "zlib" as const, bandwidthMiB: undefined };
    const { args } = qemuImg.flatten("/s", "/t", { shared: false, transfer, direct: false });
    assert.ok(args.includes("-c") && !args.includes("-W"), args.join(" "));
    assert.ok(!args.some((a) => a.includes("compression_type")), args.join(" "));
  });

  it("zstd compression says so, in order (no -W)", () => {
    const transfer = { compress: "zstd" as const, bandwidthMiB: undefined };
    const { args } = qemuImg.flatten("/s", "/t", { shared: false, transfer, direct: false });
    assert.ok(args.includes("compression_type=zstd") && !args.includes("-W"), args.join(" "));
  });

  it("a direct copy writes past the page cache (-t none); otherwise no cache mode is named", () => {
    const plain = { compress: false as const, bandwidthMiB: undefined };
    const direct = qemuImg.flatten("/s", "/t", {
      shared: true,
      transfer: plain,
      direct: true,
    }).args;
    assert.deepEqual(direct.slice(direct.indexOf("-t"), direct.indexOf("-t") + 2), ["-t", "none"]);
    const cached = qemuImg.flatten("/s", "/t", { shared: true, transfer: plain, direct: false });
    assert.ok(!cached.args.includes("-t"));
    assert.ok(!qemuImg.convert("/s", "/t", "raw", false).args.includes("-t"));
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
