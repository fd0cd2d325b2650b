import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  parseDomainXml,
  withDiskSources,
  withReadOnlyBackingChains,
} from "../../../src/libvirt/domain-xml.js";
import { BLOCK_XML } from "./fixtures.js";

const DOMAIN_XML = `<domain type='qemu'>
  <name>web &amp; "db" ü</name>
  <uuid>0b7e7a4c-1b9e-4a7e-9d41-6b5c2f0c1a11</uuid>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/img/my disk.qcow2.virtsnap-20260101T000000Z.qcow2'/>
      <backingStore type='file'><format type='qcow2'/><source file='/img/my disk.qcow2'/></backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/img/vdb.raw'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='rbd' name='pool/img'/>
      <target dev='vdn' bus='virtio'/>
    </disk>
  </devices>
</domain>`;

describe("domain XML", () => {
  it("parses name, uuid and every disk", async () => {
    const d = await parseDomainXml(DOMAIN_XML);
    assert.equal(d.name, 'web & "db" ü');
    assert.equal(d.uuid, "0b7e7a4c-1b9e-4a7e-9d41-6b5c2f0c1a11");
    assert.deepEqual(
      d.disks.map((x) => [x.target, x.device, x.type, x.format, x.source, x.readonly]),
      [
        [
          "vda",
          "disk",
          "file",
          "qcow2",
          "/img/my disk.qcow2.virtsnap-20260101T000000Z.qcow2",
          false,
        ],
        ["vdb", "disk", "file", "raw", "/img/vdb.raw", false],
        ["hdc", "cdrom", "file", "raw", undefined, true],
        ["vdn", "disk", "network", undefined, "pool/img", false],
      ],
    );
  });

  it("rewrites restored disks, drops <backingStore>, and can leave the others out", async () => {
    const sources = new Map([["vda", { file: "/restore/vda.raw", format: "raw" }]]);
    const kept = await parseDomainXml(await withDiskSources(DOMAIN_XML, sources));
    assert.deepEqual(
      kept.disks.map((x) => [x.target, x.source, x.format]),
      [
        ["vda", "/restore/vda.raw", "raw"],
        ["vdb", "/img/vdb.raw", "raw"],
        ["hdc", undefined, "raw"],
        ["vdn", "pool/img", undefined],
      ],
    );
    const dropped = await withDiskSources(DOMAIN_XML, sources, { dropOtherDisks: true });
    assert.doesNotMatch(dropped, /backingStore/);
    assert.deepEqual(
      (await parseDomainXml(dropped)).disks.map((x) => x.target),
      ["vda", "hdc"],
    );
    // A lun passes the host's live device through: a restored domain must never get it.
    const lun = `<disk type='block' device='lun'><source dev='/dev/sdy'/><target dev='sdl' bus='scsi'/></disk>`;
    const withLun = DOMAIN_XML.replace("</devices>", `${lun}</devices>`);
    const restored = await withDiskSources(withLun, sources, { dropOtherDisks: true });
    assert.deepEqual(
      (await parseDomainXml(restored)).disks.map((x) => x.target),
      ["vda", "hdc"],
    );
  });

  it("notices a guest agent channel", async () => {
    assert.equal((await parseDomainXml(DOMAIN_XML)).guestAgent, false);
    const channel =
      "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>";
    assert.equal(
      (await parseDomainXml(DOMAIN_XML.replace("</devices>", `${channel}</devices>`))).guestAgent,
      true,
    );
  });

  it("refuses what is not a domain", async () => {
    await assert.rejects(parseDomainXml("<network/>"), /not a libvirt domain XML/);
  });
});

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
});

describe("restore --instant: the backing chain spelled out, never relabelled", () => {
  it("every repository layer under the overlay, each with relabel='no', the chain closed", async () => {
    const xml = `<domain><devices><disk type='file' device='disk'><source file='/to/vda.qcow2'/><target dev='vda'/></disk>
      <disk type='file' device='cdrom'><target dev='hdc'/></disk></devices></domain>`;
    const out = await withReadOnlyBackingChains(
      xml,
      new Map([["vda", ["/repo/c/vda.2.inc.qcow2", "/repo/c/vda.1.full.qcow2"]]]),
    );
    const stores = [
      ...out.matchAll(/<source file="([^"]+)">\s*<seclabel model="dac" relabel="no"\/>/g),
    ];
    assert.deepEqual(
      stores.map((m) => m[1]),
      ["/repo/c/vda.2.inc.qcow2", "/repo/c/vda.1.full.qcow2"],
    );
    assert.match(out, /<backingStore\/>/, "the full has no backing file");
    assert.equal(out.match(/<backingStore type="file">/g)?.length, 2, "the cdrom gets none");
  });
});
