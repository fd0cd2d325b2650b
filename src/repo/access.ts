import path from "node:path";
import type { Context } from "../context.js";
import { OperationError, UsageError } from "../errors.js";
import { checkDomainName } from "../libvirt/domain.js";
import type { Catalog, RestorePoint } from "../types.js";
import { findPoint, readCatalog } from "./catalog.js";
import { firstReader, handBack } from "./lending.js";
import { domainDir } from "./paths.js";

/** The catalog of a domain that must already have backups in `backupDir`. */
export async function existingRepo(
  backupDir: string,
  domain: string,
): Promise<{ dir: string; catalog: Catalog }> {
  checkDomainName(domain);
  const dir = path.resolve(domainDir(backupDir, domain));
  const catalog = await readCatalog(dir);
  if (!catalog) throw new UsageError(`no backups of '${domain}' in ${backupDir}`);
  return { dir, catalog };
}

/** The point `id` names (an id or "latest"), or a usage error that says where to look. */
export function existingPoint(catalog: Catalog, id: string, domain: string): RestorePoint {
  const point = findPoint(catalog, id);
  if (!point)
    throw new UsageError(`no point '${id}' for '${domain}' (see 'virtsnap list ${domain}')`);
  return point;
}

/**
 * prune and rotate merge, rename and delete repository files. A domain of this host whose disks
 * read from them (restore --instant puts overlays on top of them) would lose its data, so they
 * stop while one does. When none does, files lent to QEMU for an instant domain are handed back.
 */
export async function refuseIfReadByDomains(
  ctx: Context,
  repoDir: string,
  command: string,
  dryRun = false,
): Promise<void> {
  const reader = await firstReader(ctx, repoDir);
  if (reader) {
    const { name, target } = reader;
    throw new OperationError(
      `domain '${name}' disk ${target} reads from ${repoDir} (an instant recovery?), so ${command} would take its data away: make its disks independent first ('virsh blockpull ${name} ${target} --wait' while it runs) or remove that domain`,
    );
  }
  // A dry run changes nothing, not even the owners of files lent to a domain that is gone.
  if (!dryRun) await handBack(ctx, repoDir);
}
