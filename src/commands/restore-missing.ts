import { parseDomainXml } from "../libvirt/domain-xml.js";
import type { Log } from "../log.js";
import type { ExcludedDisk, RestorePoint } from "../types.js";

/**
 * The domain's disks (as its XML at that point shows them) that the point does not hold, each with
 * the reason the backup recorded. cdrom and floppy devices are not listed: the restored XML
 * keeps them as they are. A lun is listed: it is a live device, so the restored XML leaves it out.
 */
export async function missingDisks(savedXml: string, point: RestorePoint): Promise<ExcludedDisk[]> {
  const { disks } = await parseDomainXml(savedXml);
  const held = new Set(point.disks.map((d) => d.target));
  return disks
    .filter((d) => (d.device === "disk" || d.device === "lun") && !held.has(d.target))
    .map((d) => ({
      target: d.target,
      reason:
        point.excluded?.find((e) => e.target === d.target)?.reason ??
        "not recorded (a point of an older virtsnap, which skipped such disks)",
    }));
}

/**
 * One line per missing disk: info when the backup recorded why (it said so then), a warning when it
 * did not (an older virtsnap skipped it silently).
 */
export function tellMissing(log: Log, point: RestorePoint, missing: ExcludedDisk[]): void {
  for (const m of missing) {
    const line = `point ${point.id} does not hold disk ${m.target} (${m.reason}); the restored XML leaves it out`;
    if (point.excluded?.some((e) => e.target === m.target)) log.info(line);
    else log.warn(line);
  }
}
