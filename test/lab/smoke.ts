/** The same end-to-end proof for every way virtsnap is installed: full, incs, restore of each point. */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { LabDomain, uniqueName } from "./lab.js";
import { type Cli, PointBook } from "./points.js";

/**
 * On the host's libvirtd, in `mode`: a full and two incrementals of a running domain with known
 * writes between them, then every point restored and compared with `qemu-img compare`.
 */
export async function fullIncRestore(
  cli: Cli,
  mode: "snapshot" | "cbt",
  work: string,
  domains: LabDomain[],
): Promise<void> {
  const vm = await LabDomain.create({
    name: uniqueName("vslg"),
    disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
  });
  domains.push(vm);
  const backupDir = path.join(work, `backup-${mode}`);
  await fs.mkdir(backupDir, { mode: 0o711 });
  await fs.chmod(backupDir, 0o711); // QEMU writes cbt targets in here
  const book = new PointBook(vm, backupDir, work, cli);
  const args = ["--mode", mode, "--quiesce=off"];
  await vm.write("vda", 0x11, 0, 2);
  const full = await book.backup(...args);
  await vm.write("vda", 0x22, 1, 1);
  await vm.write("vda", 0x33, 60, 2);
  const inc1 = await book.backup(...args);
  await vm.write("vda", 0x44, 0, 1);
  const inc2 = await book.backup(...args);
  assert.deepEqual(
    [full, inc1, inc2].map((p) => `${p.mode}/${p.level}`),
    [`${mode}/full`, `${mode}/inc`, `${mode}/inc`],
  );
  for (const point of [full, inc1, inc2]) await book.assertRestores(point);
}
