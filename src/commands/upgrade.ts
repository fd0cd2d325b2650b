import path from "node:path";
import type { Context } from "../context.js";
import { withDomainLock } from "../domain-lock.js";
import { JOURNAL_FILE, refuseIfInterrupted } from "../journal.js";
import { checkDomainName } from "../libvirt/domain.js";
import { byteMeter } from "../progress.js";
import { existingRepo } from "../repo/access.js";
import { writeCatalog } from "../repo/catalog.js";
import { upgradeBytes, upgradedCatalog } from "../repo/catalog-upgrade.js";
import { failpoint } from "../steps.js";
import type { CatalogFormat } from "../types.js";

export interface UpgradeOptions {
  domain: string;
  backupDir: string;
}

export interface UpgradeReport {
  domain: string;
  /** The catalog's format before and after (equal: it was current already). */
  from: CatalogFormat;
  to: CatalogFormat;
  /** Disk files whose sha256 was checked and replaced by a block digest. */
  files: number;
  bytes: number;
}

/**
 * Upgrades a repository's catalog to the current format in place. Only the catalog changes, and it
 * is replaced atomically after every file was read: a run killed at any moment leaves the old
 * catalog, which still lists, verifies and restores, or the new one.
 */
export async function upgrade(ctx: Context, options: UpgradeOptions): Promise<UpgradeReport> {
  checkDomainName(options.domain);
  return withDomainLock(ctx, options.domain, "upgrade", async () => {
    const { dir, catalog } = await existingRepo(options.backupDir, options.domain);
    const report = { domain: options.domain, from: catalog.format, to: catalog.format };
    if (catalog.format === 2) return { ...report, files: 0, bytes: 0 };
    // A killed backup's files are repair's to finish or undo, with the catalog it knows.
    await refuseIfInterrupted(path.join(dir, JOURNAL_FILE), options.domain);
    const bytes = upgradeBytes(catalog);
    const seen = { bytes: 0 };
    const meter = ctx.progress.enabled
      ? byteMeter(ctx.progress, "upgrade: checksum", () => bytes - seen.bytes)
      : undefined;
    const onBytes = (n: number) => {
      seen.bytes += n;
      meter?.(n);
    };
    const upgraded = await upgradedCatalog(dir, catalog, onBytes).finally(() =>
      ctx.progress.clear(),
    );
    failpoint("upgrade.catalog", ctx.env);
    await writeCatalog(dir, upgraded);
    const files = catalog.points.reduce((n, p) => n + p.disks.length, 0);
    ctx.log.debug(`${options.domain}: catalog upgraded from format 1 to 2 (${files} disk files)`);
    return { ...report, to: upgraded.format, files, bytes };
  });
}
