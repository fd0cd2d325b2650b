import path from "node:path";
import type { Context } from "../context.js";
import { withDomainLock } from "../domain-lock.js";
import { UsageError } from "../errors.js";
import { existingPoint, existingRepo } from "../repo/access.js";
import { checkRestoreSources } from "../repo/integrity.js";
import type { RestorePoint } from "../types.js";
import { GuestfsSession } from "./session.js";

export interface PointFsOptions {
  domain: string;
  backupDir: string;
  point: string;
  /** Only this disk's filesystems are candidates when a path names no filesystem. */
  disk: string | undefined;
}

/**
 * Runs `use` with a read-only libguestfs session over every disk of the point (so device names
 * stay the same whatever --disk says: the point's first disk is /dev/sda, and so on).
 */
export async function withPointFs<T>(
  ctx: Context,
  options: PointFsOptions & { command: string },
  use: (session: GuestfsSession, point: RestorePoint) => Promise<T>,
): Promise<T> {
  // As restore does: prune or rotate must not merge or delete the files while they are read, and
  // the catalog is read under the lock (one read before it could name files a prune just merged).
  return withDomainLock(ctx, options.domain, options.command, async () => {
    const { dir, catalog } = await existingRepo(options.backupDir, options.domain);
    const point = existingPoint(catalog, options.point, options.domain);
    if (options.disk !== undefined && !point.disks.some((d) => d.target === options.disk))
      throw new UsageError(
        `point ${point.id} has no disk '${options.disk}' (it has: ${point.disks.map((d) => d.target).join(", ")})`,
      );
    const disks = point.disks.map((d) => ({ target: d.target, file: path.join(dir, d.file) }));
    // A damaged layer would show wrong or missing files as if they were the point's: check first.
    await checkRestoreSources(ctx, dir, catalog, point, point.disks, []);
    const session = await GuestfsSession.open(ctx, disks);
    try {
      return await use(session, point);
    } finally {
      await session.close();
    }
  });
}
