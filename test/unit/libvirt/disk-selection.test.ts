import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../../src/errors.js";
import {
  formatSkip,
  isImageDisk,
  parseDeviceList,
  selectDisks,
} from "../../../src/libvirt/disk-selection.js";
import { parseDomainXml } from "../../../src/libvirt/domain-xml.js";
import type { Disk } from "../../../src/types.js";

function disk(target: string, extra: Partial<Disk> = {}): Disk {
  return {
    target,
    device: "disk",
    type: "file",
    source: `/img/${target}`,
    format: "qcow2",
    readonly: false,
    ...extra,
  };
}

const ALL = { include: undefined, exclude: [] };

describe("disk selection: every disk a real host has is taken by default", () => {
  const disks = [
    disk("vda"),
    disk("vdb", { format: "raw" }),
    disk("vdc", { type: "block", source: "/dev/vg0/data", format: "raw" }),
    disk("sdd", { type: "block", source: "/dev/sdz", format: "qcow2" }),
    disk("hdc", { device: "cdrom", source: undefined, format: "raw", readonly: true }),
    disk("fda", { device: "floppy", source: "/img/boot.img", format: "raw" }),
    disk("sdl", { device: "lun", type: "block", source: "/dev/sdy", format: "raw" }),
    disk("vdn", { type: "network", source: "pool/img", format: "raw" }),
    disk("vdr", { readonly: true }),
    disk("vds", { format: "raw", shareable: true }),
    disk("vdv", { type: "volume", source: "pool-vol" }),
    disk("vdm", { format: "vmdk" }),
    disk("vde", { source: undefined }),
  ];
  const { selected, skipped } = selectDisks(disks, ALL);
  const reason = (t: string) => skipped.find((s) => s.target === t);

  it("takes qcow2 and raw disks on files and on block devices, with no option", () => {
    assert.deepEqual(
      selected.map((d) => d.target),
      ["vda", "vdb", "vdc", "sdd"],
    );
  });

  it("never touches cdrom/floppy/lun/network/read-only/shareable disks, and says why", () => {
    assert.match(reason("hdc")?.reason ?? "", /^cdrom: never/);
    assert.match(reason("fda")?.reason ?? "", /^floppy: never/);
    assert.match(reason("sdl")?.reason ?? "", /lun/);
    assert.match(reason("vdn")?.reason ?? "", /network disk/);
    assert.match(reason("vdr")?.reason ?? "", /read-only/);
    assert.match(reason("vds")?.reason ?? "", /shareable/);
    assert.match(reason("vdv")?.reason ?? "", /type 'volume'/);
    assert.match(reason("vdm")?.reason ?? "", /vmdk/);
    assert.match(reason("vde")?.reason ?? "", /no source/);
    assert.equal(skipped.length, disks.length - selected.length, "every disk is accounted for");
  });

  it("warns exactly for what the guest can write and the user did not leave out", () => {
    const warned = skipped.filter((s) => s.warn).map((s) => s.target);
    assert.deepEqual(warned, ["sdl", "vdn", "vds", "vdv", "vdm"]);
  });

  it("--exclude leaves a disk out without a warning, and wins over the never-rules", () => {
    const r = selectDisks(disks, { include: undefined, exclude: ["vdb", "vds"] });
    assert.ok(!r.selected.some((d) => d.target === "vdb"));
    const vdb = r.skipped.find((s) => s.target === "vdb");
    const vds = r.skipped.find((s) => s.target === "vds");
    assert.deepEqual([vdb?.reason, vdb?.warn], ["left out by --exclude", false]);
    assert.deepEqual([vds?.reason, vds?.warn], ["left out by --exclude", false]);
  });

  it("--include narrows the choice; an unknown device is a usage error", () => {
    const r = selectDisks(disks, { include: ["vdc"], exclude: [] });
    assert.deepEqual(
      r.selected.map((d) => d.target),
      ["vdc"],
    );
    assert.equal(r.skipped.find((s) => s.target === "vda")?.reason, "left out: not in --include");
    assert.throws(() => selectDisks(disks, { include: ["vdz"], exclude: [] }), UsageError);
    assert.throws(() => selectDisks(disks, { include: undefined, exclude: ["vdz"] }), UsageError);
  });

  it("own images: qcow2 and raw are taken, other formats left out with a warning", () => {
    assert.equal(formatSkip("vdb", "raw"), undefined);
    assert.equal(formatSkip("vda", "qcow2"), undefined);
    assert.deepEqual(formatSkip("vde", "vmdk"), {
      target: "vde",
      reason: "format 'vmdk' is not supported",
      warn: true,
    });
  });

  it("live-chain upkeep and repair look at file and block disks alike", () => {
    assert.deepEqual(
      disks.filter(isImageDisk).map((d) => d.target),
      ["vda", "vdb", "vdc", "sdd", "vdr", "vds", "vdm"],
    );
  });

  it("device lists", () => {
    assert.deepEqual(parseDeviceList(" vda, vdb ,"), ["vda", "vdb"]);
    assert.equal(parseDeviceList(undefined), undefined);
    assert.throws(() => parseDeviceList(" , "), UsageError);
  });

  it("a shareable disk is skipped with its reason", async () => {
    const xml = `<domain><name>d</name><devices>
      <disk type='file' device='disk'><driver type='qcow2'/><source file='/a.qcow2'/><target dev='vda'/></disk>
      <disk type='file' device='disk'><driver type='raw'/><source file='/shared.img'/><target dev='vdb'/><shareable/></disk>
      </devices></domain>`;
    const { disks } = await parseDomainXml(xml);
    assert.equal(disks[1]?.shareable, true);
    const { selected, skipped } = selectDisks(disks, {
      include: undefined,
      exclude: [],
    });
    assert.deepEqual(
      selected.map((d) => d.target),
      ["vda"],
    );
    assert.match(skipped[0]?.reason ?? "", /shareable/);
  });
});
