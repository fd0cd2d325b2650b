import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { withDomainLock } from "../domain-lock.js";
import { describeIoError, OperationError, UsageError } from "../errors.js";
import { readDomain } from "../libvirt/domain.js";
import type { HostFacts } from "../libvirt/host.js";
import { repairBeforeBackup } from "../recovery/before-backup.js";
import { emptyCatalog, readCatalog, withRepoId } from "../repo/catalog.js";
import { domainDir } from "../repo/paths.js";
import type { RunLog } from "../repo/run-log.js";
import type { Catalog, Chain, Domain, Mode, Repository, Transfer } from "../types.js";
import { prepareCapture } from "./backup-capture.js";
import type { BackupOptions } from "./backup-options.js";
import { freePointId, levelFor, resolveMode, selectChains, tellChoice } from "./backup-plan.js";
import type { DomainResult } from "./backup-report.js";

// One domain of a backup run, as a runbook: lock, repair what an earlier run left, decide, capture.

/** What every domain of a run shares: how data moves, and what the host can do (being probed). */
export interface RunSetup {
  transfer: Transfer;
  host: Promise<HostFacts>;
}

/** The same, once the probe has answered. */
interface Setup {
  transfer: Transfer;
  host: HostFacts;
}

export async function backupDomain(
  ctx: Context,
  name: string,
  options: BackupOptions,
  setup: RunSetup,
  started: number,
  runLog: RunLog,
): Promise<DomainResult> {
  // After Ctrl-C a fleet run finishes the domains under way and starts no others.
  if (ctx.signal.aborted) throw new OperationError("not started: the run was interrupted");
  // Nothing is changed before the host's probe has answered: if it fails, so does the run.
  const [domain, host] = await Promise.all([readDomain(ctx.run, ctx.virsh, name), setup.host]);
  const known = { transfer: setup.transfer, host };
  const dir = path.resolve(domainDir(options.backupDir, name));
  // A dry run changes nothing, so it takes no lock and writes no log file.
  if (options.dryRun)
    return capture(ctx, await settled(ctx, domain, dir, options), options, known, started);
  return withDomainLock(ctx, name, "backup", async () => {
    await ensureBackupRoot(options.backupDir);
    await runLog.attach(dir);
    const ready = await settled(ctx, domain, dir, options);
    return capture(ctx, ready, options, known, started);
  });
}

/** The domain, its repository and the chains to back up, once what an earlier run left is repaired. */
interface Ready {
  domain: Domain;
  repo: Repository;
  chains: Chain[];
  skipped: DomainResult["skipped"];
}

/** The domain is read once, and again only after a repair changed it. */
async function settled(
  ctx: Context,
  first: Domain,
  dir: string,
  options: BackupOptions,
): Promise<Ready> {
  let domain = first;
  let chosen = await selectChains(ctx, domain, options.filter);
  if (!options.dryRun && (await repairBeforeBackup(ctx, domain, dir, chosen.chains))) {
    domain = await readDomain(ctx.run, ctx.virsh, domain.name);
    chosen = await selectChains(ctx, domain, options.filter);
  }
  // The catalog after the repair, which may have finished a prune.
  const repo = { dir, catalog: await catalogFor(dir, domain) };
  tellChoice(ctx, domain, chosen);
  return { domain, repo, ...chosen };
}

/** Mode, level and point id decided, then the capture (a dry run stops at its plan). */
async function capture(
  ctx: Context,
  { domain, repo, chains, skipped }: Ready,
  options: BackupOptions,
  { transfer, host }: Setup,
  started: number,
): Promise<DomainResult> {
  const name = domain.name;
  const mode = chooseMode(ctx, domain, chains, options, { transfer, host });
  // cbt checkpoints carry the repository's id, so several repositories can back up one domain.
  if (mode === "cbt") repo.catalog = await withRepoId(repo.dir, repo.catalog, !options.dryRun);
  const level = levelFor(repo.catalog, options);
  const pointId = await freePointId(ctx, repo.catalog, chains, name);
  const excluded = skipped.map((s) => ({ target: s.target, reason: s.reason }));
  const prepared = prepareCapture(
    ctx,
    domain,
    repo,
    chains,
    mode,
    pointId,
    { ...options, level },
    transfer,
    excluded,
  );
  const { plan } = prepared;
  const disks = plan.jobs.map((j) => ({ target: j.target, level: j.level, file: j.file }));
  const result = { domain: name, mode, skipped, chain: plan.chain, level: plan.level, disks };
  if (options.dryRun)
    return { ...result, status: "planned", point: plan.pointId, seconds: 0, warnings: [] };
  const targets = plan.jobs.map((j) => j.target).join(", ");
  ctx.log.info(`${name}: ${mode} ${plan.level} backup of ${targets} as point ${plan.pointId}`);
  for (const job of plan.jobs)
    if (job.wholeReason) ctx.log.info(`${name}: disk ${job.target}: ${job.wholeReason}`);
  const point = await prepared.run();
  const done = {
    level: point.level,
    chain: point.chain,
    point: point.id,
    bytes: point.disks.reduce((sum, d) => sum + d.bytes, 0),
    seconds: (ctx.now().getTime() - started) / 1000,
    // A shut-off domain's disks need no freeze: only a running one's point is crash-consistent.
    ...(domain.active ? { quiesced: point.quiesced } : {}),
  };
  return { ...result, ...done, status: "ok", warnings: [] };
}

/** The capture mode, refused where this host could not undo a failed run; notes on ignored options. */
function chooseMode(
  ctx: Context,
  domain: Domain,
  chains: Chain[],
  options: BackupOptions,
  { transfer, host }: Setup,
): Mode {
  const name = domain.name;
  const mode = options.memoryState ? "snapshot" : resolveMode(options.mode, chains, host, ctx.log);
  if (mode === "snapshot" && domain.active && !host.activeCommit) {
    throw new OperationError(
      `libvirt ${host.libvirt} / QEMU ${host.qemu} has no active block commit (libvirt >= 1.2.9, QEMU >= 2.0), so a failed snapshot-mode run of a running domain could not be undone: back '${name}' up while it is shut off`,
    );
  }
  if (options.memoryState && !domain.active)
    ctx.log.info(`${name}: shut off, so there is no memory state to save`);
  if (mode === "cbt" && transfer.bandwidthMiB !== undefined)
    ctx.log.warn(
      `${name}: libvirt cannot limit a cbt backup job's bandwidth; --bandwidth is not applied`,
    );
  return mode;
}

/**
 * A backup dir virtsnap creates itself is 0711: nothing in it can be listed, but QEMU can reach
 * the domain folders below it, which cbt's push-mode jobs need (see cbt/qemu-access.ts).
 */
async function ensureBackupRoot(backupDir: string): Promise<void> {
  const stat = await fs.stat(backupDir).catch(() => undefined);
  if (stat && !stat.isDirectory())
    throw new UsageError(`backup dir ${backupDir} is a file, not a folder: give -b a folder`);
  if (stat) return;
  try {
    await fs.mkdir(backupDir, { recursive: true, mode: 0o711 });
  } catch (error) {
    throw describeIoError(error, `cannot create backup dir ${backupDir}`);
  }
}

async function catalogFor(dir: string, domain: Domain): Promise<Catalog> {
  const catalog = (await readCatalog(dir)) ?? emptyCatalog(domain);
  if (catalog.domain.uuid && domain.uuid && catalog.domain.uuid !== domain.uuid) {
    throw new OperationError(
      `${dir} holds backups of another domain named '${domain.name}' (uuid ${catalog.domain.uuid}); use another backup dir`,
    );
  }
  return catalog;
}
