import type { Catalog, RestorePoint } from "../types.js";

// Several repositories may back up one domain in cbt mode (a nightly one, an ad-hoc one on a USB
// disk), and other tools (virtnbdbackup) keep checkpoints of their own on it. A checkpoint's name
// says which repository it belongs to, so a run only ever deletes its own.

/** `virtsnap-<repository id>-<point id>`; before repository ids, `virtsnap-<point id>`. */
const NAME = /^virtsnap-(?:([0-9a-f]{8})-)?(\d{8}T\d{6}Z)$/;

export function checkpointName(repoId: string, pointId: string): string {
  return `virtsnap-${repoId}-${pointId}`;
}

/** The point id a virtsnap checkpoint name carries, or undefined for a foreign name. */
export function pointOfCheckpoint(name: string): string | undefined {
  return NAME.exec(name)?.[2];
}

/** The checkpoint a point created: recorded since repositories have ids, else the old name. */
export function checkpointOf(point: RestorePoint): string | undefined {
  if (point.mode !== "cbt" || point.level === "copy") return undefined;
  return point.checkpoint ?? `virtsnap-${point.id}`;
}

/**
 * Whether a checkpoint is this repository's: its name carries the repository's id (also one of a
 * run that died before its point was saved), or it is the checkpoint of a point the catalog lists
 * (an old-style name). `formerly` adds names of points just removed from the catalog (prune).
 */
export function isOurs(catalog: Catalog, name: string, formerly: readonly string[] = []): boolean {
  const m = NAME.exec(name);
  if (!m) return false;
  if (m[1] !== undefined) return m[1] === catalog.repoId;
  return formerly.includes(name) || catalog.points.some((p) => checkpointOf(p) === name);
}
