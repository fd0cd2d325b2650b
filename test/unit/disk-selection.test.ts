import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { missingDisks } from "../../src/commands/restore-missing.js";
import { UsageError } from "../../src/errors.js";
import {
  formatSkip,
  isImageDisk,
  parseDeviceList,
  selectDisks,
} from "../../src/libvirt/disk-selection.js";
import { parseDomainXml, withDiskSources } from "../../src/libvirt/domain-xml.js";
import type { Disk, RestorePoint } from "../../src/types.js";

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
});

const BLOCK_XML = `<domain><name>d</name><devices>
  <disk type='block' device='disk'><driver name='qemu' type='raw' cache='none'/>
    <source dev='/dev/vg0/data'/><target dev='vdc' bus='virtio'/></disk>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='/img/vda.qcow2'/><target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
  <disk type='file' device='disk'><driver name='qemu' type='raw'/>
    <source file='/img/vdx.raw'/><target dev='vdx' bus='virtio'/></disk>
</devices></domain>`;

describe("block disks in the domain XML", () => {
  it("a block disk is read with its device as source", async () => {
    const { disks } = await parseDomainXml(BLOCK_XML);
    assert.deepEqual(
      [disks[0]?.type, disks[0]?.source, disks[0]?.format],
      ["block", "/dev/vg0/data", "raw"],
    );
  });

  it("goes onto a file overlay and back onto its device (type='block', <source dev>)", async () => {
    const overlay = "/var/lib/virtsnap/overlays/d/vdc.virtsnap-20260101T000000Z.qcow2";
    const onOverlay = await withDiskSources(
      BLOCK_XML,
      new Map([["vdc", { file: overlay, format: "qcow2" }]]),
    );
    const a = (await parseDomainXml(onOverlay)).disks[0];
    assert.deepEqual([a?.type, a?.source, a?.format], ["file", overlay, "qcow2"]);
    assert.doesNotMatch(onOverlay, /dev="\/dev\/vg0\/data"/);
    const back = await withDiskSources(
      onOverlay,
      new Map([["vdc", { file: "/dev/vg0/data", format: "raw", block: true }]]),
    );
    const b = (await parseDomainXml(back)).disks[0];
    assert.deepEqual([b?.type, b?.source, b?.format], ["block", "/dev/vg0/data", "raw"]);
    assert.match(back, /cache="none"/, "other driver settings stay");
  });

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
