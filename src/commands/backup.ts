import type { Context } from "../context.js";
import { EXIT } from "../errors.js";
import { dryRunner } from "../exec.js";
import { explain } from "../failure.js";
import { probeHost } from "../libvirt/host.js";
import { checkNotifyUrl, createNotifier } from "../notify.js";
import { inParallel } from "../parallel.js";
import { NO_PROGRESS } from "../progress.js";
import { probeCompression } from "../qemu/compression.js";
import { RunLog } from "../repo/run-log.js";
import type { Transfer } from "../types.js";
import { backupDomain, type RunSetup } from "./backup-domain.js";
import { type BackupOptions, checkOptions } from "./backup-options.js";
import { excerpt, updateMetrics, writeStatus } from "./backup-outcome.js";
import {
  type BackupReport,
  buildReport,
  type DomainResult,
  failedDomain,
  type Outcome,
  runExitCode,
} from "./backup-report.js";

export type { BackupOptions, LevelOption, ModeOption } from "./backup-options.js";
export type { BackupReport, DomainResult } from "./backup-report.js";

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
  // The domains are read while the host is probed (a round trip less per run). A probe that fails
  // fails the run as a whole, on its own error: every domain stops before its first change.
  const probe = probeHost(ctx);
  // Several domains at once would fight over one progress bar.
  const runCtx = options.parallel > 1 ? { ...ctx, progress: NO_PROGRESS } : ctx;
  const [host, outcomes] = await Promise.all([
    probe,
    inParallel(names, options.parallel, (name) =>
      backupOne(runCtx, name, options, { transfer, host: probe }, names.length === 1),
    ),
  ]);
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
  // The run's own log file gets the commands too; a dry run prints its mutating ones, runs none.
  const run: Context["run"] = (cmd, o) => ctx.run(cmd, { ...o, log: runLog.log });
  const domainCtx = {
    ...ctx,
    log: runLog.log,
    run: options.dryRun ? dryRunner(run, runLog.log) : run,
  };
  const logFile = () => (runLog.file ? { logFile: runLog.file } : {});
  try {
    const result = await backupDomain(domainCtx, name, options, setup, started, runLog);
    const done = { ...result, ...logFile(), warnings: [...runLog.log.warnings] };
    if (!options.dryRun) await writeStatus(domainCtx, options.backupDir, done);
    return { result: done, exitCode: EXIT.ok };
  } catch (error) {
    // Not this domain's failure: the run's (backupAll), reported once.
    if (await rejects(setup.host)) throw error;
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

const rejects = (promise: Promise<unknown>): Promise<boolean> =>
  promise.then(
    () => false,
    () => true,
  );

function bugReport(error: unknown): string {
  return `internal error (a bug in virtsnap): ${error instanceof Error ? error.stack : String(error)}`;
}

/** --compress uses zstd where this qemu-img can write it, else zlib. */
async function transferFor(ctx: Context, options: BackupOptions): Promise<Transfer> {
  if (!options.compress) return { compress: false, bandwidthMiB: options.bandwidthMiB };
  return { compress: await probeCompression(ctx), bandwidthMiB: options.bandwidthMiB };
}

async function domainNames(ctx: Context, options: BackupOptions): Promise<string[]> {
  if (options.domains.length > 0) return [...new Set(options.domains)];
  const { stdout } = await ctx.run(ctx.virsh.listNames(options.allRunning));
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}
