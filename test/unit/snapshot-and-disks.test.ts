import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { showCmd } from "../../src/exec.js";
import { parseDomainXml, withDiskSources } from "../../src/libvirt/domain-xml.js";
import { diskSpec, virsh } from "../../src/libvirt/virsh.js";
import { ownImage } from "../../src/qemu/live-chain.js";
import { parseChain, parseCheck } from "../../src/qemu/qemu-img.js";
import { emptyCatalog, withPoint } from "../../src/repo/catalog.js";
import { BLOCK_OVERLAY_DIR, overlayPath, parseOverlay } from "../../src/repo/paths.js";
import { planSnapshot } from "../../src/snapshot/plan.js";
import type { Chain, Layer, RestorePoint } from "../../src/types.js";

function layer(file: string, format = "qcow2", backing?: string): Layer {
  return {
    file,
    format,
    virtualSize: 1 << 26,
    actualSize: 1 << 20,
    backing,
    compat: format === "qcow2" ? "1.1" : undefined,
  };
}

/** A live chain, top first: own image plus the virtsnap overlays named after `trackedIds`. */
function liveChain(target: string, trackedIds: string[], format = "qcow2"): Chain {
  const own = `/img/${target}.${format}`;
  const overlays = trackedIds.map((id) => layer(overlayPath(own, id)));
  return { target, layers: [...overlays, layer(own, format)] };
}

function snapshotPoint(
  id: string,
  chain: string,
  parent: string | null,
  targets: string[],
): RestorePoint {
  const level = parent ? "inc" : "full";
  return {
    id,
    time: "",
    mode: "snapshot",
    level,
    chain,
    parent,
    quiesced: false,
    disks: targets.map((t) => ({
      target: t,
      file: `${chain}/${t}.${id}.${level}.qcow2`,
      format: "qcow2",
      virtualSize: 1,
      bytes: 1,
      sha256: "x",
    })),
  };
}

const P1 = "20260101T000000Z";
const P2 = "20260102T000000Z";
const NEW = "20260103T000000Z";
const catalog = [
  snapshotPoint(P1, P1, null, ["vda", "vdb"]),
  snapshotPoint(P2, P1, P1, ["vda", "vdb"]),
].reduce(withPoint, emptyCatalog({ name: "vm", uuid: "u" }));

describe("planSnapshot", () => {
  it("first run: a full of the flattened disk, a new chain, overlays named after the new point", () => {
    const plan = planSnapshot(
      emptyCatalog({ name: "vm", uuid: "u" }),
      [liveChain("vda", [])],
      NEW,
      false,
      "vm",
    );
    assert.deepEqual([plan.level, plan.chain, plan.parent], ["full", NEW, undefined]);
    const job = plan.jobs[0];
    assert.equal(job?.frozen.file, "/img/vda.qcow2");
    assert.equal(job?.overlay, `/img/vda.qcow2.virtsnap-${NEW}.qcow2`);
    assert.equal(job?.file, `${NEW}/vda.${NEW}.full.qcow2`);
  });

  it("a top overlay named after the latest point holds exactly the changes since it: inc", () => {
    const plan = planSnapshot(
      catalog,
      [liveChain("vda", [P2]), liveChain("vdb", [P2])],
      NEW,
      false,
      "vm",
    );
    assert.deepEqual([plan.level, plan.chain, plan.parent?.id], ["inc", P1, P2]);
    assert.deepEqual(
      plan.jobs.map((j) => [j.level, j.backing, j.frozen.file, j.own.file]),
      [
        ["inc", `vda.${P2}.inc.qcow2`, overlayPath("/img/vda.qcow2", P2), "/img/vda.qcow2"],
        ["inc", `vdb.${P2}.inc.qcow2`, overlayPath("/img/vdb.qcow2", P2), "/img/vdb.qcow2"],
      ],
    );
  });

  it("an overlay named after another point (another repository, a failed run) forces a full", () => {
    const plan = planSnapshot(catalog, [liveChain("vda", [P1])], NEW, false, "vm");
    assert.equal(plan.level, "full");
    assert.equal(plan.chain, NEW);
  });

  it("leftover frozen layers below the top still commit into the own image, never below it", () => {
    const plan = planSnapshot(catalog, [liveChain("vda", [P2, P1])], NEW, false, "vm");
    assert.equal(plan.jobs[0]?.own.file, "/img/vda.qcow2");
    assert.equal(plan.jobs[0]?.frozen.file, overlayPath("/img/vda.qcow2", P2));
  });

  it("disks new to the chain are copied whole inside an inc, and say so", () => {
    const plan = planSnapshot(
      catalog,
      [liveChain("vda", [P2]), liveChain("vdc", [P2], "raw"), liveChain("vdd", [])],
      NEW,
      false,
      "vm",
    );
    assert.equal(plan.level, "inc");
    assert.deepEqual(
      plan.jobs.map((j) => [j.target, j.level, j.wholeReason !== undefined]),
      [
        ["vda", "inc", false],
        ["vdc", "full", true],
        ["vdd", "full", true],
      ],
    );
    assert.match(plan.jobs[1]?.wholeReason ?? "", /not in the previous point/);
    const stale = planSnapshot(
      catalog,
      [liveChain("vda", [P2]), liveChain("vdb", [P1])],
      NEW,
      false,
      "vm",
    );
    assert.deepEqual(
      stale.jobs.map((j) => j.level),
      ["inc", "full"],
    );
    assert.match(stale.jobs[1]?.wholeReason ?? "", /does not track the previous point/);
  });

  it("a raw file and a block device continue the chain like qcow2, from their qcow2 overlay", () => {
    const raws = [
      snapshotPoint(P1, P1, null, ["vdb", "vdc"]),
      snapshotPoint(P2, P1, P1, ["vdb", "vdc"]),
    ].reduce(withPoint, emptyCatalog({ name: "vm", uuid: "u" }));
    const device = "/dev/vg0/data";
    const base = `${BLOCK_OVERLAY_DIR}/vm/vdc`;
    const block: Chain = {
      target: "vdc",
      layers: [layer(overlayPath(base, P2)), { ...layer(device, "raw"), block: true }],
    };
    const plan = planSnapshot(raws, [liveChain("vdb", [P2], "raw"), block], NEW, false, "vm");
    assert.equal(plan.level, "inc");
    assert.deepEqual(
      plan.jobs.map((j) => [j.level, j.own.file, j.frozen.file, j.overlay]),
      [
        ["inc", "/img/vdb.raw", overlayPath("/img/vdb.raw", P2), overlayPath("/img/vdb.raw", NEW)],
        // A block device's overlays live in virtsnap's folder, never beside it in /dev.
        ["inc", device, overlayPath(base, P2), overlayPath(base, NEW)],
      ],
    );
    assert.equal(ownImage(block).file, device);
    assert.equal(parseOverlay(plan.jobs[1]?.overlay ?? "")?.image, base);
  });

  it("--level full starts a new chain even when an inc is possible", () => {
    const plan = planSnapshot(catalog, [liveChain("vda", [P2])], NEW, true, "vm");
    assert.deepEqual([plan.level, plan.chain], ["full", NEW]);
  });
});

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

describe("qemu-img and virsh builders", () => {
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
