import path from "node:path";

/** Overlays virtsnap creates beside a disk image, named after the point whose changes they collect. */
export function overlayPath(image: string, pointId: string): string {
  return `${image}.virtsnap-${pointId}.qcow2`;
}

/**
 * A block device's overlays cannot lie beside it (in /dev): they live in a folder virtsnap owns,
 * one sub-folder per domain, named after the disk's target.
 */
export const BLOCK_OVERLAY_DIR = "/var/lib/virtsnap/overlays";

/** What a disk's overlays are named after: its own image file, or for a block device its place above. */
export function overlayBase(
  domain: string,
  target: string,
  own: { file: string; block?: boolean },
): string {
  return own.block ? path.join(BLOCK_OVERLAY_DIR, domain, target) : own.file;
}

const OVERLAY = /^(?<image>.*)\.virtsnap-(?<pointId>\d{8}T\d{6}Z)\.qcow2$/;

/** For an overlay virtsnap made: the image it was named after and the point it tracks changes since. */
export function parseOverlay(file: string): { image: string; pointId: string } | undefined {
  const groups = OVERLAY.exec(file)?.groups;
  return groups ? { image: groups.image ?? "", pointId: groups.pointId ?? "" } : undefined;
}
