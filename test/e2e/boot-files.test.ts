/**
 * A restore that boots: the UEFI variable store, the TPM state and kernel/initrd files are kept
 * with every point (checksummed, verified) and restored with it.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabDomain, must, sh, sha256, tempDir, uniqueName, virtsnap } from "../lab/lab.js";
import { type ListedPoint, listPoints, PointBook } from "../lab/points.js";

interface Aux {
  kind: string;
  file: string;
  sha256: string;
  source: string;
}
type Point = ListedPoint & { files?: Aux[] };

/** The point's saved file of this kind (nvram, tpm, ...), if it has one. */
function fileOf(point: Point, kind: string): Aux | undefined {
  return point.files?.find((f) => f.kind === kind);
}

/** Overwrites a few bytes in place (the file keeps its size, as a firmware store must). */
async function scribble(file: string, offset: number): Promise<void> {
  const handle = await fs.open(file, "r+");
  try {
    await handle.write(Buffer.from("virtsnap was here"), 0, 17, offset);
  } finally {
    await handle.close();
  }
}

describe("nvram, TPM state, kernel files", () => {
  let work: string;
  const domains: LabDomain[] = [];
  const restored = uniqueName("vst-boot");

  before(async () => {
    work = await tempDir("virtsnap-boot-");
  });
  after(async () => {
    await sh("virsh", ["destroy", "--domain", restored]);
    await sh("virsh", ["undefine", "--domain", restored, "--nvram"]);
    for (const vm of domains) await vm.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("UEFI + TPM: restore --define brings back the nvram and TPM state of the point, and it starts", async () => {
    const vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
      efi: true,
      tpm: true,
    });
    domains.push(vm);
    const dir = path.join(work, "efi");
    const book = new PointBook(vm, dir, work);
    const xml = await must("virsh", ["dumpxml", "--inactive", "--domain", vm.name]);
    const nvram = /<nvram[^>]*>([^<]+)<\/nvram>/.exec(xml)?.[1] as string;
    const uuid = (await must("virsh", ["domuuid", "--domain", vm.name])).trim();
    const permall = `/var/lib/libvirt/swtpm/${uuid}/tpm2/tpm2-00.permall`;
    assert.ok(nvram && (await fs.stat(permall)).size > 0, "libvirt made the nvram and TPM state");

    await vm.write("vda", 0xe1, 0, 2);
    const point = (await book.backup("--mode", "cbt")) as Point;
    const kinds = (point.files ?? []).map((f) => f.kind).sort();
    assert.deepEqual(kinds, ["nvram", "tpm"]);
    const saved = (kind: string) => fileOf(point, kind) as Aux;
    assert.equal(saved("tpm").source, "tpm2/tpm2-00.permall");
    // The firmware writes variables and swtpm rewrites its state while the domain runs, so the
    // live files may have moved on since the point: the point's copies must match their checksums
    // here, and the offline points below are compared with the sources themselves.
    for (const kind of ["nvram", "tpm"]) {
      const copy = path.join(dir, vm.name, saved(kind).file);
      assert.equal(saved(kind).sha256, await sha256(copy), kind);
      assert.ok((await fs.stat(copy)).size > 0, kind);
    }

    // The variable store and the TPM change after the point.
    await vm.stop();
    await scribble(nvram, 0x1000);
    await scribble(permall, 100);
    const later = (await book.backup("--mode", "snapshot")) as Point;
    assert.notEqual(fileOf(later, "nvram")?.sha256, saved("nvram").sha256);
    assert.equal(fileOf(later, "nvram")?.sha256, await sha256(nvram));
    assert.equal(fileOf(later, "tpm")?.sha256, await sha256(permall));
    const again = (await book.backup("--mode", "snapshot")) as Point;
    const unchanged = path.join(dir, vm.name, fileOf(again, "nvram")?.file ?? "");
    assert.equal((await fs.stat(unchanged)).nlink, 2, "an unchanged nvram store is hard-linked");
    const verify = await virtsnap(["verify", vm.name, "-b", dir]);
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);

    const to = path.join(work, "efi-restored");
    const r = await virtsnap([
      "restore",
      vm.name,
      "-b",
      dir,
      "--point",
      point.id,
      "--to",
      to,
      "--define",
      restored,
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const newXml = await must("virsh", ["dumpxml", "--inactive", "--domain", restored]);
    const newNvram = /<nvram[^>]*>([^<]+)<\/nvram>/.exec(newXml)?.[1] as string;
    assert.equal(newNvram, path.join(to, `${restored}_VARS.fd`));
    assert.equal(await sha256(newNvram), saved("nvram").sha256, "nvram as at the point");
    const newUuid = (await must("virsh", ["domuuid", "--domain", restored])).trim();
    assert.notEqual(newUuid, uuid);
    const newPermall = `/var/lib/libvirt/swtpm/${newUuid}/tpm2/tpm2-00.permall`;
    assert.equal(await sha256(newPermall), saved("tpm").sha256, "TPM state as at the point");
    await must("virsh", ["start", "--domain", restored]);
    assert.equal((await must("virsh", ["domstate", "--domain", restored])).trim(), "running");
    await book.assertRestores(point);
  });

  it("kernel and initrd named by the XML are kept and restored beside the disks", async () => {
    const vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 32 }],
      start: false,
    });
    domains.push(vm);
    const kernel = path.join(vm.dir, "vmlinuz-test");
    const initrd = path.join(vm.dir, "initrd-test.img");
    await fs.writeFile(kernel, Buffer.alloc(300_000, 0x4b));
    await fs.writeFile(initrd, Buffer.alloc(200_000, 0x49));
    const xml = (await must("virsh", ["dumpxml", "--inactive", "--domain", vm.name])).replace(
      "</os>",
      `<kernel>${kernel}</kernel><initrd>${initrd}</initrd><cmdline>console=ttyS0</cmdline></os>`,
    );
    const xmlFile = path.join(work, "kernel.xml");
    await fs.writeFile(xmlFile, xml);
    await must("virsh", ["define", "--file", xmlFile]);

    const dir = path.join(work, "kernel");
    const book = new PointBook(vm, dir, work);
    await vm.write("vda", 0xe2, 0, 1);
    const point = (await book.backup("--mode", "snapshot")) as Point;
    assert.deepEqual((point.files ?? []).map((f) => [f.kind, f.source]).sort(), [
      ["initrd", initrd],
      ["kernel", kernel],
    ]);
    const to = path.join(work, "kernel-restored");
    const r = await virtsnap(["restore", vm.name, "-b", dir, "--to", to]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(await sha256(path.join(to, "vmlinuz-test")), await sha256(kernel));
    assert.equal(await sha256(path.join(to, "initrd-test.img")), await sha256(initrd));
    const restoredXml = await fs.readFile(path.join(to, `${vm.name}.xml`), "utf8");
    assert.match(restoredXml, new RegExp(`<kernel>${path.join(to, "vmlinuz-test")}</kernel>`));
    assert.match(restoredXml, new RegExp(`<initrd>${path.join(to, "initrd-test.img")}</initrd>`));
    assert.match(restoredXml, /<cmdline>console=ttyS0<\/cmdline>/);
    await book.assertRestores(point);
    for (const p of await listPoints(dir, vm.name)) assert.equal(p.disks.length, 1);
  });
});
