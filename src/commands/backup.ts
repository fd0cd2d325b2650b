import fs from "node:fs/promises";
import path from "node:path";
import { cbtBackup } from "../cbt/capture.js";
import { planCbt } from "../cbt/plan.js";
import { consolidateDisk } from "../chain/consolidate.js";
import { overlaysOf } from "../chain/live-chain.js";
import type { Context } from "../context.js";
import { describeIoError, EXIT, OperationError, UsageError } from "../errors.js";
import { createRunner } from "../exec.js";
import { explain } from "../failure.js";
import { JOURNAL_FILE, Journal } from "../journal.js";
import type { DiskFilter, Skipped } from "../libvirt/disk-selection.js";
import { checkDomainName, readDomain } from "../libvirt/domain.js";
import { type HostFacts, probeHost } from "../libvirt/host.js";
import { lockDomain } from "../lock.js";
import { RunLog } from "../log.js";
import { checkNotifyUrl, createNotifier, type NotifyOn } from "../notify.js";
import { inParallel } from "../parallel.js";
import { NO_PROGRESS } from "../progress.js";
import { probeCompression } from "../qemu/compression.js";
import { emptyCatalog, readCatalog, withRepoId } from "../repo/catalog.js";
import { domainDir } from "../repo/paths.js";
import { snapshotBackup } from "../snapshot/capture.js";
import type {
  Catalog,
  Chain,
  Domain,
  ExcludedDisk,
  Mode,
  Quiesce,
  Repository,
  RestorePoint,
  Transfer,
} from "../types.js";
import { excerpt, updateMetrics, writeStatus } from "./backup-outcome.js";
import {
  chooseDisks,
  freePointId,
  leftovers,
  levelFor,
  resolveMode,
  snapshotPlan,
} from "./backup-plan.js";
import { buildReport, failedDomain, type Outcome, runExitCode } from "./backup-report.js";
import { pendingJournals, repairDomain } from "./repair.js";

export type ModeOption = "auto" | "snapshot" | "cbt";
export type LevelOption = "auto" | "full" | "inc" | "diff" | "copy";

export interface BackupOptions {
  domains: string[];
  all: boolean;
  allRunning: boolean;
  backupDir: string;
  mode: ModeOption;
  level: LevelOption;
  quiesce: Quiesce;
  filter: DiskFilter;
  dryRun: boolean;
  /** Start a new chain once the current one has this many points. */
  fullEvery: number | undefined;
  compress: boolean;
  bandwidthMiB: number | undefined;
  /** How many domains are backed up at once. */
  parallel: number;
  /** Snapshot mode: save a running domain's RAM with the point. */
  memoryState: boolean;
  /** Prometheus textfile to update with this run's figures. */
  metricsFile: string | undefined;
  /** The exit code of a run that succeeded with warnings (--warnings-exit). */
  warningsExit?: number | undefined;
  /** healthchecks.io-style ping URLs, and when to ping them. */
  notifyUrls: string[];
  notifyOn: NotifyOn;
}

export interface DomainResult {
  domain: string;
  status: "ok" | "failed" | "planned";
  mode?: Mode;
  point?: string;
  level?: string;
  chain?: string;
  bytes?: number;
  seconds: number;
  disks?: { target: string; level: string; file: string }[];
  skipped: Skipped[];
  error?: string;
  /** The run's log file in the domain's folder. */
  logFile?: string;
  /** A running domain's point: whether the guest's filesystems were frozen (false: crash-consistent). */
  quiesced?: boolean;
  /** What went less than well without failing the run (a crash-consistent point, ...). */
  warnings: string[];
}

export interface BackupReport {
  ok: boolean;
  /** The process's exit code for this run. */
  exitCode: number;
  /** Why the run as a whole failed before any domain's own work; null otherwise. */
  error: string | null;
  /** What the run found the host can do (probed once); null if it never got that far. */
  host: HostFacts | null;
  domains: DomainResult[];
  summary: {
    total: number;
    ok: number;
    failed: number;
    failedDomains: string[];
    warnings: number;
  };
}

export async function backup(ctx: Context, options: BackupOptions): Promise<BackupReport> {
  // A bad URL is refused by checkOptions below; the good ones still hear of that failure.
  const urls = options.dryRun ? [] : options.notifyUrls.filter((url) => !checkNotifyUrl(url));
  const notifier = createNotifier(urls, options.notifyOn, ctx.log);
  await notifier.start();
  const started = ctx.now().getTime();
  // The domains the run is about, as soon as they are known (--all: once listed).
  const known = { names: [...new Set(options.domains)] };
  const report = await backupAll(ctx, options, known).catch((error: unknown) =>
    failedRun(ctx, options, known.names, error, (ctx.now().getTime() - started) / 1000),
  );
  await notifier.finish(report.ok, excerpt(report));
  return report;
}

async function backupAll(
  ctx: Context,
  options: BackupOptions,
  known: { names: string[] },
): Promise<BackupReport> {
  checkOptions(options);
  const names = await domainNames(ctx, options);
  known.names = names;
  const transfer = await transferFor(ctx, options);
  const host = await probeHost(ctx);
  // Several domains at once would fight over one progress bar.
  const runCtx = options.parallel > 1 ? { ...ctx, progress: NO_PROGRESS } : ctx;
  const outcomes = await inParallel(names, options.parallel, (name) =>
    backupOne(runCtx, name, options, { transfer, host }, names.length === 1),
  );
  const results = outcomes.map((o) => o.result);
  if (options.metricsFile && !options.dryRun)
    await updateMetrics(ctx, options.metricsFile, options.backupDir, results);
  return buildReport(outcomes, host, runExitCode(outcomes, options.warningsExit), null);
}

/**
 * A run that failed before any domain's own work (bad options, libvirt unreachable, -b not a
 * folder) still tells monitoring: every named domain failed, in status.json and the metrics.
 */
async function failedRun(
  ctx: Context,
  options: BackupOptions,
  names: string[],
  error: unknown,
  seconds: number,
): Promise<BackupReport> {
  const why = explain(error, { uri: ctx.uri, uid: process.getuid?.() });
  ctx.log.error(why.bug ? bugReport(error) : why.message);
  const results = names.map((d) => failedDomain(d, why.message, seconds));
  if (!options.dryRun) {
    for (const result of results) await writeStatus(ctx, options.backupDir, result);
    if (options.metricsFile)
      await updateMetrics(ctx, options.metricsFile, options.backupDir, results);
  }
  const outcomes = results.map((result) => ({ result, exitCode: why.exitCode }));
  return buildReport(outcomes, null, why.exitCode, why.message);
}

/** One domain of the run, with its own log file; its failure is a result, not an error. */
async function backupOne(
  ctx: Context,
  name: string,
  options: BackupOptions,
  setup: RunSetup,
  alone: boolean,
): Promise<Outcome> {
  const started = ctx.now().getTime();
  const runLog = new RunLog(ctx.log, ctx.now);
  const domainCtx = { ...ctx, log: runLog.log, run: createRunner(runLog.log) };
  const logFile = () => (runLog.file ? { logFile: runLog.file } : {});
  try {
    const result = await backupDomain(domainCtx, name, options, setup, started, runLog);
    const done = { ...result, ...logFile(), warnings: [...runLog.log.warnings] };
    if (!options.dryRun) await writeStatus(domainCtx, options.backupDir, done);
    return { result: done, exitCode: EXIT.ok };
  } catch (error) {
    const seconds = (ctx.now().getTime() - started) / 1000;
    const why = explain(error, { uri: ctx.uri, uid: process.getuid?.() });
    const failed: DomainResult = {
      ...failedDomain(name, why.message, seconds),
      ...logFile(),
      warnings: [...runLog.log.warnings],
    };
    if (!options.dryRun) await writeStatus(domainCtx, options.backupDir, failed);
    // One domain alone: its error is the run's error line; in a fleet each line names its domain.
    const line = why.bug ? bugReport(error) : why.message;
    runLog.log.error(alone ? line : `${name}: ${line}`);
    return { result: failed, exitCode: why.exitCode };
  } finally {
    await runLog.close();
  }
}

function bugReport(error: unknown): string {
  return `internal error (a bug in virtsnap): ${error instanceof Error ? error.stack : String(error)}`;
}

/** --compress uses zstd where this qemu-img can write it, else zlib. */
async function transferFor(ctx: Context, options: BackupOptions): Promise<Transfer> {
  if (!options.compress) return { compress: false, bandwidthMiB: options.bandwidthMiB };
  return { compress: await probeCompression(ctx), bandwidthMiB: options.bandwidthMiB };
}

function checkOptions(options: BackupOptions): void {
  const sources = [options.domains.length > 0, options.all, options.allRunning].filter(
    Boolean,
  ).length;
  if (sources !== 1)
    throw new UsageError(
      "name the domains to back up, or give --all or --all-running (one of them)",
    );
  if (options.mode === "snapshot" && (options.level === "diff" || options.level === "copy")) {
    throw new UsageError(`--level ${options.level} needs --mode cbt (or auto)`);
  }
  for (const name of options.domains) checkDomainName(name);
  if (!Number.isInteger(options.parallel) || options.parallel < 1)
    throw new UsageError("--parallel must be a whole number of at least 1");
  if (options.fullEvery !== undefined && options.fullEvery < 1)
    throw new UsageError("--full-every must be a whole number of at least 1");
  if (options.fullEvery !== undefined && options.level !== "auto")
    throw new UsageError("--full-every decides the level itself; leave out --level");
  if (options.memoryState && options.mode === "cbt")
    throw new UsageError(
      "--memory-state needs --mode snapshot (or auto, which then picks snapshot)",
    );
  if (options.memoryState && options.quiesce === "required")
    throw new UsageError("--memory-state saves RAM and disks together; leave out --quiesce");
  if (!options.backupDir)
    throw new UsageError("no backup directory: give -b DIR or set VIRTSNAP_BACKUP_DIR");
  for (const url of options.notifyUrls) {
    const problem = checkNotifyUrl(url);
    if (problem) throw new UsageError(problem);
  }
  if (options.bandwidthMiB !== undefined && options.bandwidthMiB < 1)
    throw new UsageError("--bandwidth must be a whole number of MiB/s, at least 1");
}

async function domainNames(ctx: Context, options: BackupOptions): Promise<string[]> {
  if (options.domains.length > 0) return [...new Set(options.domains)];
  const { stdout } = await ctx.run(ctx.virsh.listNames(options.allRunning));
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

async function backupDomain(
  ctx: Context,
  name: string,
  options: BackupOptions,
  { transfer, host }: RunSetup,
  started: number,
  runLog: RunLog,
): Promise<DomainResult> {
  // After Ctrl-C a fleet run finishes the domains under way and starts no others.
  if (ctx.signal.aborted) throw new OperationError("not started: the run was interrupted");
  let domain = await readDomain(ctx.run, ctx.virsh, name);
  const dir = path.resolve(domainDir(options.backupDir, name));
  const release = options.dryRun ? async () => {} : await lockDomain(ctx, name, "backup");
  try {
    if (!options.dryRun) {
      await ensureBackupRoot(options.backupDir);
      await runLog.attach(dir);
    }
    const journals = options.dryRun ? [] : await pendingJournals(ctx, name, dir);
    if (journals.length > 0) {
      // A run that failed has undone its work already; one that was killed may have left anything.
      if (journals.every((j) => j.failed))
        ctx.log.info(`${name}: checking what the last (failed) run left, first`);
      else ctx.log.warn(`${name}: an earlier run was interrupted; repairing that first`);
      await repairDomain(ctx, domain, dir);
      domain = await readDomain(ctx.run, ctx.virsh, name);
    }
    const repo = { dir, catalog: await catalogFor(dir, domain) };
    let { chains, skipped } = await chooseDisks(ctx, domain, options.filter);
    const left = await leftovers(ctx, domain, chains);
    if (left.length > 0 && !options.dryRun) {
      // Stacking a second overlay on a leftover would make the chain longer with every failure.
      ctx.log.warn(`${name}: ${left.join("; ")}, left by an earlier run: repairing that first`);
      await repairDomain(ctx, domain, dir);
      domain = await readDomain(ctx.run, ctx.virsh, name);
      ({ chains, skipped } = await chooseDisks(ctx, domain, options.filter));
    }
    const mode = options.memoryState
      ? "snapshot"
      : resolveMode(options.mode, chains, host, ctx.log);
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
    // cbt checkpoints carry the repository's id, so several repositories can back up one domain.
    if (mode === "cbt") repo.catalog = await withRepoId(dir, repo.catalog, !options.dryRun);
    const level = levelFor(repo.catalog, options);
    const pointId = await freePointId(ctx, repo.catalog, chains, name);
    const capture = prepareCapture(
      ctx,
      domain,
      repo,
      chains,
      mode,
      pointId,
      { ...options, level },
      transfer,
      skipped.map((s) => ({ target: s.target, reason: s.reason })),
    );
    const { plan } = capture;
    const disks = plan.jobs.map((j) => ({ target: j.target, level: j.level, file: j.file }));
    const result = { domain: name, mode, skipped, chain: plan.chain, level: plan.level, disks };
    if (options.dryRun)
      return { ...result, status: "planned", point: plan.pointId, seconds: 0, warnings: [] };
    const targets = plan.jobs.map((j) => j.target).join(", ");
    ctx.log.info(`${name}: ${mode} ${plan.level} backup of ${targets} as point ${plan.pointId}`);
    for (const job of plan.jobs)
      if (job.wholeReason) ctx.log.info(`${name}: disk ${job.target}: ${job.wholeReason}`);
    const point = await capture.run();
    const bytes = point.disks.reduce((sum, d) => sum + d.bytes, 0);
    const seconds = (ctx.now().getTime() - started) / 1000;
    const done = {
      level: point.level,
      chain: point.chain,
      point: point.id,
      bytes,
      seconds,
      // A shut-off domain's disks need no freeze: only a running one's point is crash-consistent.
      ...(domain.active ? { quiesced: point.quiesced } : {}),
    };
    return { ...result, ...done, status: "ok", warnings: [] };
  } finally {
    await release();
  }
}

interface Capture {
  plan: {
    pointId: string;
    chain: string;
    level: string;
    jobs: { target: string; level: string; file: string; wholeReason: string | undefined }[];
  };
  run: () => Promise<RestorePoint>;
}

function prepareCapture(
  ctx: Context,
  domain: Domain,
  repo: Repository,
  chains: Chain[],
  mode: Mode,
  pointId: string,
  options: BackupOptions,
  transfer: Transfer,
  excluded: ExcludedDisk[],
): Capture {
  if (mode === "snapshot") {
    const planned = snapshotPlan(repo.catalog, chains, pointId, options.level, domain.name);
    const plan = { ...planned, excluded };
    const run = () =>
      journaled(ctx, repo, "backup.snapshot", domain.name, pointId, (journal) =>
        snapshotBackup(
          ctx,
          domain,
          plan,
          repo,
          { quiesce: options.quiesce, memoryState: options.memoryState, transfer },
          journal,
        ),
      );
    return { plan, run };
  }
  const plan = { ...planCbt(repo.catalog, chains, pointId, options.level), excluded };
  const fullInstead = () => ({ ...planCbt(repo.catalog, chains, pointId, "full"), excluded });
  const quiesce = options.quiesce;
  const run = () =>
    journaled(ctx, repo, "backup.cbt", domain.name, pointId, async (journal) => {
      await leaveSnapshotOverlays(ctx, domain, chains);
      return cbtBackup(ctx, domain, plan, repo, quiesce, transfer, fullInstead, journal);
    });
  return { plan, run };
}

/** What every domain of a run shares: how data moves, and what the host can do. */
interface RunSetup {
  transfer: Transfer;
  host: HostFacts;
}

/** The journal lives while the run does; after a failure it stays, for repair (DESIGN.md). */
async function journaled<C extends "backup.snapshot" | "backup.cbt">(
  ctx: Context,
  repo: Repository,
  command: C,
  domain: string,
  pointId: string,
  work: (journal: Journal<C>) => Promise<RestorePoint>,
): Promise<RestorePoint> {
  const journal = await Journal.open(
    path.join(repo.dir, JOURNAL_FILE),
    { command, domain, pointId },
    ctx.env,
  );
  let point: RestorePoint;
  try {
    point = await work(journal);
  } catch (error) {
    await journal.note({ failed: true }).catch(() => {});
    throw error;
  }
  await journal.close();
  return point;
}

/** cbt keeps bitmaps in the image QEMU writes to: move disks off overlays a snapshot-mode run left. */
async function leaveSnapshotOverlays(ctx: Context, domain: Domain, chains: Chain[]): Promise<void> {
  for (const chain of chains) {
    const disk = domain.disks.find((d) => d.target === chain.target);
    if (!disk || overlaysOf(chain).length === 0) continue;
    ctx.log.info(
      `${domain.name}: merging disk ${chain.target}'s snapshot-mode overlay before a cbt backup`,
    );
    await consolidateDisk(ctx, domain, disk, "commit", true);
  }
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
