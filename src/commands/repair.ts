import fs from "node:fs/promises";
import path from "node:path";
import { consolidateChain, consolidateDisk } from "../chain/consolidate.js";
import { overlaysOf, ownImage, readChain, withMerged } from "../chain/live-chain.js";
import { mergeBack } from "../chain/merge-back.js";
import { overlayBase, parseOverlay } from "../chain/names.js";
import type { Context } from "../context.js";
import { JOURNAL_FILE, type JournalRecord, readJournal } from "../journal.js";
import { settleBlockJob } from "../libvirt/block-job.js";
import { isImageDisk } from "../libvirt/disk-selection.js";
import { checkDomainName, readDomain } from "../libvirt/domain.js";
import { hostJournalFile, lockDomain } from "../lock.js";
import { chainTip, readCatalog } from "../repo/catalog.js";
import { domainDir } from "../repo/paths.js";
import type { Catalog, Disk, Domain } from "../types.js";
import { handBackIfUnread } from "./instant-access.js";
import { finishInterruptedPrune } from "./prune.js";
import { removeStrayCheckpoints, removeUnlistedFiles } from "./sweep.js";

export interface RepairOptions {
  domain: string;
  backupDir: string | undefined;
}

export interface RepairReport {
  domain: string;
  actions: string[];
}

export async function repair(ctx: Context, options: RepairOptions): Promise<RepairReport> {
  checkDomainName(options.domain);
  const domain = await readDomain(ctx.run, ctx.virsh, options.domain);
  const release = await lockDomain(ctx, domain.name, "repair");
  try {
    const repoDir = options.backupDir
      ? path.resolve(domainDir(options.backupDir, domain.name))
      : undefined;
    return { domain: domain.name, actions: await repairDomain(ctx, domain, repoDir) };
  } finally {
    await release();
  }
}

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

function fileDisks(domain: Domain): Disk[] {
  return domain.disks.filter(isImageDisk);
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

/**
 * Snapshot mode's leftovers. A top overlay for a point the catalog never got, above the overlay of
 * the catalog's newest point: the run died before its point was saved, so merge the new overlay
 * back (the next backup stays incremental). Then any frozen layers are committed into the own
 * image, and overlay files no chain uses are deleted.
 */
async function repairChain(
  ctx: Context,
  domain: Domain,
  disk: Disk,
  catalog: Catalog | undefined,
  say: (a: string) => void,
) {
  let chain = await readChain(ctx.run, disk);
  const [top, below] = overlaysOf(chain);
  const tip = catalog ? chainTip(catalog) : undefined;
  const topId = top && parseOverlay(top.file)?.pointId;
  const unrecorded = topId !== undefined && !catalog?.points.some((p) => p.id === topId);
  if (top && below && unrecorded && parseOverlay(below.file)?.pointId === tip?.id) {
    await mergeBack(ctx, domain, disk.target, top.file, below);
    say(`disk ${disk.target}: merged the overlay of unsaved point ${topId} back`);
    chain = withMerged(chain, below.file);
  }
  if (overlaysOf(chain).length > 1) {
    chain = await consolidateChain(ctx, domain, chain, "commit", false);
    say(`disk ${disk.target}: committed frozen overlays into ${ownImage(chain).file}`);
  }
  await removeOrphanOverlays(
    overlayBase(domain.name, disk.target, ownImage(chain)),
    new Set(chain.layers.map((l) => l.file)),
    disk.target,
    say,
  );
}

/**
 * Overlays named after this very image (or, for a block device, its place in virtsnap's overlay
 * folder) that no chain uses: made by a run that died before using them.
 */
async function removeOrphanOverlays(
  base: string,
  live: Set<string>,
  target: string,
  say: (a: string) => void,
) {
  const dir = path.dirname(base);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const file = path.join(dir, name);
    if (live.has(file) || parseOverlay(file)?.image !== base) continue;
    await fs.rm(file, { force: true });
    say(`disk ${target}: deleted unused overlay ${file}`);
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
