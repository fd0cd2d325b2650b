// The freeze and its undo: a new overlay on every selected disk, and merging it back.
import fs from "node:fs/promises";
import path from "node:path";
import { mergeBack } from "../chain/merge-back.js";
import type { Context } from "../context.js";
import { describeIoError } from "../errors.js";
import { defineWithSources } from "../libvirt/define.js";
import { freezeAsAsked } from "../libvirt/quiesce.js";
import type { DiskSpec } from "../libvirt/virsh.js";
import { qemuImg } from "../qemu/qemu-img.js";
import type { Domain, Quiesce } from "../types.js";
import type { SnapshotPlan } from "./plan.js";

/**
 * The live snapshot, frozen through the guest agent as asked. With "try", a freeze that cannot
 * happen gives a crash-consistent point (see freezeAsAsked): an --atomic snapshot that failed
 * changed nothing, so it is simply taken again without --quiesce. Returns whether it was frozen.
 */
async function snapshotLive(
  ctx: Context,
  domain: Domain,
  specs: DiskSpec[],
  quiesce: Quiesce,
): Promise<boolean> {
  const frozen = await freezeAsAsked(ctx, domain, quiesce, () =>
    ctx.run(ctx.virsh.snapshotDiskOnly(domain.name, specs, true)),
  );
  if (!frozen) await ctx.run(ctx.virsh.snapshotDiskOnly(domain.name, specs, false));
  return frozen;
}

/** Every selected disk gets a new overlay on top; the layer below it is frozen from now on. */
export async function freeze(
  ctx: Context,
  domain: Domain,
  plan: SnapshotPlan,
  inactiveXml: string,
  quiesce: Quiesce,
  memoryPartial: string | undefined,
): Promise<boolean> {
  const chosen = new Set(plan.jobs.map((j) => j.target));
  await makeBlockOverlayDirs(plan);
  if (domain.active) {
    // A disk left out of --diskspec still gets an overlay libvirt names itself (LAB.md): list them all.
    const specs = [
      ...plan.jobs.map((j) => ({ target: j.target, overlay: j.overlay })),
      ...domain.disks
        .filter((d) => !chosen.has(d.target))
        .map((d) => ({ target: d.target, skip: true as const })),
    ];
    if (memoryPartial) {
      await ctx.run(ctx.virsh.snapshotWithMemory(domain.name, specs, memoryPartial));
      return false;
    }
    return snapshotLive(ctx, domain, specs, quiesce);
  }
  // Shut off: qemu-img makes the overlays (libvirt's own offline snapshot takes 8-13 s, LAB.md).
  try {
    for (const job of plan.jobs)
      await ctx.run(qemuImg.createOverlay(job.overlay, job.frozen.file, job.frozen.format));
    const sources = new Map(plan.jobs.map((j) => [j.target, { file: j.overlay, format: "qcow2" }]));
    await defineWithSources(ctx, inactiveXml, sources);
  } catch (error) {
    // Nothing uses the new (empty, uniquely named) overlays until the define succeeded.
    for (const job of plan.jobs) await fs.rm(job.overlay, { force: true });
    throw error;
  }
  return false;
}

/**
 * A block device's overlay goes into virtsnap's own folder (BLOCK_OVERLAY_DIR/<domain>/), which QEMU
 * must be able to walk into: search-only for others (0711), nothing in it can be listed.
 */
async function makeBlockOverlayDirs(plan: SnapshotPlan): Promise<void> {
  for (const job of plan.jobs.filter((j) => j.own.block)) {
    const dir = path.dirname(job.overlay);
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o711 });
      await fs.chmod(dir, 0o711);
    } catch (error) {
      throw describeIoError(error, `disk ${job.target}: cannot create overlay folder ${dir}`);
    }
  }
}

/** Undo `freeze`: merge each new overlay back into the layer below it (uncancellable). */
export async function thaw(
  ctx: Context,
  domain: Domain,
  plan: SnapshotPlan,
  inactiveXml: string,
): Promise<void> {
  for (const job of plan.jobs) {
    try {
      await mergeBack(ctx, domain, job.target, job.overlay, job.frozen, inactiveXml);
    } catch (error) {
      ctx.log.error(
        `disk ${job.target}: could not merge ${job.overlay} back: ${(error as Error).message}`,
      );
    }
  }
}
