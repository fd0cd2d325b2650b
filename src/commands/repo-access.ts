import path from "node:path";
import { UsageError } from "../errors.js";
import { checkDomainName } from "../libvirt/domain.js";
import { readCatalog } from "../repo/catalog.js";
import { domainDir } from "../repo/paths.js";
import type { Catalog } from "../types.js";

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
