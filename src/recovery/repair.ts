import fs from "node:fs/promises";
import path from "node:path";
import { consolidateDisk } from "../chain/consolidate.js";
import type { Context } from "../context.js";
import { JOURNAL_FILE, type JournalRecord, readJournal } from "../journal.js";
import { settleBlockJob } from "../libvirt/block-job.js";
import { readDomain } from "../libvirt/domain.js";
import { hostJournalFile } from "../lock.js";
import { readCatalog } from "../repo/catalog.js";
import { handBackIfUnread } from "../repo/lending.js";
import type { Domain } from "../types.js";
import { finishInterruptedPrune } from "./interrupted-prune.js";
import { fileDisks, repairChain } from "./repair-chain.js";
import { removeStrayCheckpoints, removeUnlistedFiles } from "./sweep.js";

/**
 * Finishes or undoes whatever an interrupted run left, judged from the live state, the catalog and
 * the files, with the journal for what state cannot tell. Safe to run any number of times: on a
 * clean domain it does nothing. The caller holds the domain's lock.
 */
export async function repairDomain(
  ctx: Context,
  domain: Domain,
  repoDir: string | undefined,
): Promise<string[]> {
  const actions: string[] = [];
  const say = (action: string) => {
    ctx.log.info(`${domain.name}: repair: ${action}`);
    actions.push(action);
  };
  // First: a prune's renamed files are not in the catalog until it is finished.
  if (repoDir && (await finishInterruptedPrune(ctx, domain.name, repoDir)))
    say("finished an interrupted prune");
  const catalog = repoDir ? await readCatalog(repoDir) : undefined;
  const journals = await pendingJournals(ctx, domain.name, repoDir);
  if (domain.active) await endJobs(ctx, domain, say);
  for (const disk of fileDisks(domain)) await repairChain(ctx, domain, disk, catalog, say);
  if (repoDir) await removeUnlistedFiles(repoDir, catalog, say);
  if (repoDir) await handBackIfUnread(ctx, repoDir);
  if (catalog) await removeStrayCheckpoints(ctx, domain.name, catalog, say);
  await finishIntents(ctx, domain, journals, say);
  for (const file of journalFiles(ctx, domain.name, repoDir)) await fs.rm(file, { force: true });
  return actions;
}

function journalFiles(ctx: Context, domain: string, repoDir: string | undefined): string[] {
  const host = hostJournalFile(ctx.lockDir, ctx.uri, domain);
  return repoDir ? [path.join(repoDir, JOURNAL_FILE), host] : [host];
}

/** The journals an earlier run left for this domain (none after a run that finished). */
export async function pendingJournals(
  ctx: Context,
  domain: string,
  repoDir: string | undefined,
): Promise<JournalRecord[]> {
  const records = await Promise.all(journalFiles(ctx, domain, repoDir).map(readJournal));
  return records.filter((r): r is JournalRecord => r !== undefined);
}

/** A backup job is aborted (its point was never recorded); block jobs are run to their end. */
async function endJobs(ctx: Context, domain: Domain, say: (a: string) => void): Promise<void> {
  const job = (await ctx.run(ctx.virsh.jobInfo(domain.name))).stdout;
  if (!/Job type:\s+None/.test(job)) {
    await ctx.run(ctx.virsh.jobAbort(domain.name));
    say("aborted a backup job left running");
  }
  for (const disk of fileDisks(domain)) {
    if (await settleBlockJob(ctx, domain.name, disk.target))
      say(`disk ${disk.target}: finished a block job left running`);
  }
}

async function finishIntents(
  ctx: Context,
  domain: Domain,
  journals: JournalRecord[],
  say: (a: string) => void,
) {
  for (const journal of journals) {
    if (journal.command === "restore" && journal.restoreTo) {
      const names = await fs.readdir(journal.restoreTo).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.endsWith(".partial"))) {
        await fs.rm(path.join(journal.restoreTo, name), { force: true });
        say(`deleted ${path.join(journal.restoreTo, name)} of an interrupted restore`);
      }
    }
    if (journal.command === "consolidate" && journal.allLayers) {
      const fresh = await readDomain(ctx.run, ctx.virsh, domain.name);
      for (const disk of fileDisks(fresh)) await consolidateDisk(ctx, fresh, disk, "commit", true);
      say("finished consolidate --all-layers");
    }
    if (journal.startedPaused) {
      const state = (await ctx.run(ctx.virsh.domState(domain.name))).stdout.trim();
      if (state === "paused") {
        await ctx.run(ctx.virsh.stopGraceful(domain.name));
        say("shut off again the domain a cbt run had started paused");
      }
    }
  }
}
