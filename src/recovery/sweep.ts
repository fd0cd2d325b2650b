// What repair and prune both sweep away once the catalog is right: files and checkpoints of points
// it does not list.
import fs from "node:fs/promises";
import path from "node:path";
import { deleteCheckpoint, listCheckpoints } from "../cbt/checkpoints.js";
import { checkpointOf, isOurs } from "../cbt/names.js";
import type { Context } from "../context.js";
import { isPointId } from "../repo/paths.js";
import type { Catalog } from "../types.js";

/** Every file virtsnap writes into a chain folder starts `<target or kind>.<point id>.`. */
const POINT_FILE = /^[\w-]+\.(\d{8}T\d{6}Z)\./;

/** A file the catalog does not list is not a restore point: partial files, unsaved points, half-deleted chains. */
export async function removeUnlistedFiles(
  repoDir: string,
  catalog: Catalog | undefined,
  say: (a: string) => void,
) {
  const chains = new Set(catalog?.chains.map((c) => c.id));
  const points = new Set(catalog?.points.map((p) => p.id));
  // Files carry their point's id; a listed file is kept whatever its name says.
  const listed = new Set(
    catalog?.points.flatMap((p) => [...p.disks, ...(p.files ?? [])].map((f) => f.file)),
  );
  let entries: string[];
  try {
    entries = await fs.readdir(repoDir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const full = path.join(repoDir, entry);
    if (entry.endsWith(".partial")) {
      await fs.rm(full, { force: true });
      say(`deleted ${entry}`);
    } else if (isPointId(entry) && !chains.has(entry)) {
      await fs.rm(full, { recursive: true, force: true });
      say(`deleted chain folder ${entry}, which the catalog does not list`);
    } else if (isPointId(entry)) {
      for (const name of await fs.readdir(full)) {
        const m = POINT_FILE.exec(name);
        const id = m?.[1];
        if (!m || (id && points.has(id) && !name.endsWith(".partial"))) continue;
        if (listed.has(path.join(entry, name))) continue;
        await fs.rm(path.join(full, name), { force: true });
        say(`deleted ${entry}/${name}, which the catalog does not list`);
      }
    }
  }
}

/**
 * This repository's checkpoint of a point the catalog does not list (never saved, or pruned): the
 * next inc must not depend on it, and its bitmap costs QEMU work on every write. Checkpoints of
 * other repositories and tools stay. `formerly`: checkpoints of points just removed from the
 * catalog (prune), whose old-style names carry no repository id.
 */
export async function removeStrayCheckpoints(
  ctx: Context,
  domain: string,
  catalog: Catalog,
  say: (a: string) => void,
  formerly: readonly string[] = [],
) {
  const listed = new Set(catalog.points.map(checkpointOf));
  const names = await listCheckpoints(ctx, domain).catch(() => []);
  for (const name of names) {
    if (!isOurs(catalog, name, formerly) || listed.has(name)) continue;
    await deleteCheckpoint(ctx, domain, name);
    say(`deleted checkpoint ${name}, which the catalog does not list`);
  }
}
