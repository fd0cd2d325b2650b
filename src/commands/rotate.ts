import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { withDomainLock, withJournal } from "../domain-lock.js";
import { UsageError } from "../errors.js";
import { JOURNAL_FILE, type Journal, refuseIfInterrupted } from "../journal.js";
import { checkDomainName } from "../libvirt/domain.js";
import { existingRepo, refuseIfReadByDomains } from "../repo/access.js";
import { withoutChains, writeCatalog } from "../repo/catalog.js";
import { isPointId } from "../repo/paths.js";
import type { Catalog } from "../types.js";

export interface RotateOptions {
  domain: string;
  backupDir: string;
  keepChains: number;
  dryRun: boolean;
}

export interface RotateReport {
  domain: string;
  /** Nothing was changed: `removed` is what a real run would remove. */
  dryRun: boolean;
  removed: string[];
  kept: string[];
  /** The removed (or, in a dry run, to be removed) chains: their points and the bytes they hold. */
  removedChains: { id: string; points: number; bytes: number }[];
}

/** Deletes whole chains, oldest first, keeping the newest `keepChains` (never fewer than one). */
export async function rotate(ctx: Context, options: RotateOptions): Promise<RotateReport> {
  if (!Number.isInteger(options.keepChains) || options.keepChains < 1) {
    throw new UsageError("--keep-chains must be a whole number of at least 1");
  }
  checkDomainName(options.domain);
  // A dry run takes the lock too: it answers as the real run would (75 while another run works).
  return withDomainLock(ctx, options.domain, "rotate", async () => {
    const { dir, catalog } = await existingRepo(options.backupDir, options.domain);
    const chains = catalog.chains.map((c) => c.id);
    const removed = chains.slice(0, Math.max(0, chains.length - options.keepChains));
    const report: RotateReport = {
      domain: options.domain,
      dryRun: options.dryRun,
      removed,
      kept: chains.slice(removed.length),
      removedChains: removed.map((id) => chainSize(catalog, id)),
    };
    if (removed.length === 0) return report;
    // The same refusals in a dry run, so that it never promises what the real run will not do.
    await refuseIfInterrupted(path.join(dir, JOURNAL_FILE), options.domain);
    await refuseIfReadByDomains(ctx, dir, "rotate", options.dryRun);
    if (options.dryRun) return report;
    const record = { command: "rotate" as const, domain: options.domain, chains: removed };
    // Finished, never undone: chains the catalog no longer lists are deleted by repair.
    await withJournal(ctx, path.join(dir, JOURNAL_FILE), record, { undoesItself: false }, (j) =>
      removeChains(ctx, dir, catalog, removed, j),
    );
    return report;
  });
}

/** Catalog first: a crash between the two steps leaves unlisted files, never a listed point without files. */
async function removeChains(
  ctx: Context,
  dir: string,
  catalog: Catalog,
  removed: string[],
  journal: Journal<"rotate">,
): Promise<void> {
  await journal.step("catalog");
  await writeCatalog(dir, withoutChains(catalog, new Set(removed)));
  await journal.step("delete-chains");
  for (const id of removed) {
    if (!isPointId(id)) continue;
    ctx.log.info(`removing chain ${id}`);
    await fs.rm(path.join(dir, id), { recursive: true, force: true });
  }
}

function chainSize(catalog: Catalog, id: string): { id: string; points: number; bytes: number } {
  const points = catalog.points.filter((p) => p.chain === id);
  const bytes = points.reduce((sum, p) => sum + p.disks.reduce((s, d) => s + d.bytes, 0), 0);
  return { id, points: points.length, bytes };
}
