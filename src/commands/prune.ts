import path from "node:path";
import type { Context } from "../context.js";
import { withDomainLock, withJournal } from "../domain-lock.js";
import { UsageError } from "../errors.js";
import { dryRunner } from "../exec.js";
import { JOURNAL_FILE, refuseIfInterrupted } from "../journal.js";
import { checkDomainName } from "../libvirt/domain.js";
import { finishInterruptedPrune, interruptedPrune } from "../recovery/interrupted-prune.js";
import { carryOut, showMerges } from "../recovery/prune-steps.js";
import { existingRepo, refuseIfReadByDomains } from "../repo/access.js";
import { handBackIfUnread } from "../repo/lending.js";
import {
  catalogAfter,
  choosePoints,
  type KeepPolicy,
  type Merge,
  type PrunePlan,
  planPrune,
} from "../repo/retention.js";
import type { Catalog } from "../types.js";

export interface PruneOptions {
  domain: string;
  backupDir: string;
  policy: KeepPolicy;
  dryRun: boolean;
}

export interface PruneReport {
  domain: string;
  dryRun: boolean;
  kept: { id: string; reasons: string[] }[];
  removed: string[];
  merges: Merge[];
  bytesBefore: number;
  bytesAfter: number;
  /** What the removed points' files hold now (a dry run's estimate of what goes). */
  removedBytes: number;
  /** Points of an interrupted prune that this run finished (a dry run: would finish) first. */
  interruptedPrune: string[];
}

/**
 * Keeps points by a restic-like policy and merges every other point into the point that depends
 * on it, so each kept point restores exactly as before (DESIGN.md, "The repository"). A dry run
 * prints the qemu-img runs of the merges and changes nothing.
 */
export async function prune(ctx: Context, options: PruneOptions): Promise<PruneReport> {
  checkPolicy(options.policy);
  checkDomainName(options.domain);
  const run = options.dryRun ? dryRunner(ctx.run, ctx.log) : ctx.run;
  // A dry run takes the lock too: it answers as the real run would (75 while another run works).
  return withDomainLock(ctx, options.domain, "prune", () => pruneLocked({ ...ctx, run }, options));
}

async function pruneLocked(ctx: Context, options: PruneOptions): Promise<PruneReport> {
  const { dir, catalog, interrupted } = await startFresh(ctx, options);
  const decision = choosePoints(catalog, options.policy);
  const plan = planPrune(catalog, decision.remove);
  const report = reportOf(options, catalog, plan, decision.keep, interrupted ?? []);
  if (plan.remove.length === 0) return report;
  // The same refusal in a dry run, so that it never promises what the real run will not do.
  await refuseIfReadByDomains(ctx, dir, "prune", options.dryRun);
  if (options.dryRun) {
    await showMerges(ctx, dir, catalog, plan);
    return report;
  }
  const record = { command: "prune" as const, domain: options.domain, removed: plan.remove };
  // A prune is finished, never undone: a failure leaves the journal for the next run to finish.
  const after = await withJournal(
    ctx,
    path.join(dir, JOURNAL_FILE),
    record,
    { undoesItself: false },
    (journal) => carryOut(ctx, options.domain, dir, catalog, plan, journal),
  );
  return { ...report, bytesAfter: repoBytes(after) };
}

/**
 * The repository as this prune starts from it: an interrupted prune finished first (a dry run
 * plans as if it were), an unrepaired run refused, files lent to a domain that is gone handed back.
 */
async function startFresh(ctx: Context, options: PruneOptions) {
  const repo = await existingRepo(options.backupDir, options.domain);
  let catalog = repo.catalog;
  const interrupted = await interruptedPrune(repo.dir);
  if (!options.dryRun && interrupted) {
    await finishInterruptedPrune(ctx, options.domain, repo.dir);
    catalog = (await existingRepo(options.backupDir, options.domain)).catalog;
  } else if (interrupted) {
    ctx.log.info(`${options.domain}: would first finish an interrupted prune`);
    catalog = catalogAfter(catalog, planPrune(catalog, idsIn(catalog, interrupted)));
  }
  if (!options.dryRun || !interrupted)
    await refuseIfInterrupted(path.join(repo.dir, JOURNAL_FILE), options.domain);
  if (!options.dryRun) await handBackIfUnread(ctx, repo.dir);
  return { dir: repo.dir, catalog, interrupted };
}

function reportOf(
  options: PruneOptions,
  catalog: Catalog,
  plan: PrunePlan,
  keep: Map<string, string[]>,
  interrupted: string[],
): PruneReport {
  const bytesBefore = repoBytes(catalog);
  return {
    domain: options.domain,
    dryRun: options.dryRun,
    kept: [...keep]
      .map(([id, reasons]) => ({ id, reasons }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    removed: plan.remove,
    merges: plan.merges,
    bytesBefore,
    bytesAfter: bytesBefore,
    removedBytes: repoBytes({
      ...catalog,
      points: catalog.points.filter((p) => plan.remove.includes(p.id)),
    }),
    interruptedPrune: interrupted,
  };
}

function checkPolicy(policy: KeepPolicy): void {
  for (const [rule, n] of Object.entries(policy)) {
    if (!Number.isInteger(n) || n < 0)
      throw new UsageError(`--keep-${rule} must be a whole number`);
  }
  if (Object.values(policy).every((n) => n === 0)) {
    throw new UsageError(
      "give at least one --keep-* option of 1 or more (prune never empties a repository)",
    );
  }
}

/** Those of `ids` the catalog still lists. */
function idsIn(catalog: Catalog, ids: readonly string[]): string[] {
  return catalog.points.filter((p) => ids.includes(p.id)).map((p) => p.id);
}

function repoBytes(catalog: Catalog): number {
  return catalog.points.reduce((sum, p) => sum + p.disks.reduce((s, d) => s + d.bytes, 0), 0);
}
