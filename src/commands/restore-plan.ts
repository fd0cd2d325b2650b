import path from "node:path";
import type { Context } from "../context.js";
import { UsageError } from "../errors.js";
import { restoredBootPath } from "../repo/boot-files.js";
import type { AuxFile, PointDisk, RestorePoint } from "../types.js";

// What a restore writes where, decided before anything is touched.

export interface RestoreOptions {
  domain: string;
  backupDir: string;
  point: string;
  to: string;
  format: "qcow2" | "raw";
  disks: string[] | undefined;
  /** Register the restored domain under this name (new uuid and MAC addresses). */
  define: string | undefined;
  /** Start it at once on overlays over the repository files instead of copies (needs `define`). */
  instant: boolean;
}

export type Plan = ReturnType<typeof planRestore>;

/** Which disks and files go where; nothing is touched yet. */
export function planRestore(ctx: Context, options: RestoreOptions, point: RestorePoint) {
  const disks = pickDisks(point, options.disks);
  const memory = point.files?.find((f) => f.kind === "memory");
  // libvirt resumes saved RAM only under the domain's own name and uuid, with all its disks.
  const resume = memory !== undefined && options.define === options.domain && !options.disks;
  if (memory && options.define && !resume)
    ctx.log.warn(
      `point ${point.id} has the domain's memory state, but libvirt resumes it only under the name '${options.domain}' (once no domain of that name exists) with all disks; '${options.define}' boots from its disks instead`,
    );
  const to = path.resolve(options.to);
  const outputs = disks.map((d) => ({
    disk: d,
    file: path.join(to, `${d.target}.${options.format}`),
  }));
  const xmlFile = path.join(to, `${options.domain}.xml`);
  const sources = new Map(
    outputs.map((o) => [o.disk.target, { file: o.file, format: options.format }]),
  );
  // nvram, TPM state, kernel/initrd/dtb: written into `to` beside the disks.
  const newName = options.define ?? options.domain;
  const bootFiles = (point.files ?? [])
    .filter((f) => f.kind !== "memory")
    .map((f) => ({ aux: f, file: restoredBootPath(to, f, newName) }));
  const writes = [...outputs.map((o) => o.file), ...bootFiles.map((b) => b.file), xmlFile];
  return { disks, memory, resume, to, outputs, xmlFile, sources, bootFiles, writes };
}

export function isAux(file: AuxFile | undefined): file is AuxFile {
  return file !== undefined;
}

function pickDisks(point: RestorePoint, targets: string[] | undefined): PointDisk[] {
  if (!targets) return point.disks;
  return targets.map((t) => {
    const disk = point.disks.find((d) => d.target === t);
    if (!disk)
      throw new UsageError(
        `point ${point.id} has no disk '${t}' (it has: ${point.disks.map((d) => d.target).join(", ")})`,
      );
    return disk;
  });
}
