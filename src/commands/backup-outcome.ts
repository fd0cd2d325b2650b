import path from "node:path";
import type { Context } from "../context.js";
import { repoState, statusFigures, usableName } from "../repo/figures.js";
import { exists, writeFileAtomic } from "../repo/files.js";
import { type DomainMetrics, writeMetricsFile } from "../repo/metrics.js";
import { domainDir, STATUS_FILE } from "../repo/paths.js";
import type { BackupReport, DomainResult } from "./backup-report.js";

// What a backup run tells the world besides its output: notification bodies, status files, metrics.

/** The body of a notification: one line per domain, then its warnings. */
export function excerpt(report: BackupReport): string {
  const lines = report.domains.flatMap((r) => [
    r.status === "failed"
      ? `${r.domain}: FAILED: ${r.error}`
      : `${r.domain}: ${r.status} ${r.point ?? ""} (${r.level ?? "-"}, ${r.bytes ?? 0} bytes, ${r.seconds.toFixed(1)} s)`,
    ...r.warnings.map((w) => `${r.domain}: warning: ${w}`),
  ]);
  const run = report.error === null ? [] : [`virtsnap backup failed: ${report.error}`];
  return `${[...run, ...lines].join("\n")}\n`;
}

/**
 * DIR/<domain>/status.json after every run, for Check_MK-style local checks: the last run's
 * result, duration, bytes, and the repository's figures. Only where the domain has a folder
 * already (a mistyped name creates nothing), and never a reason to fail the run.
 */
export async function writeStatus(
  ctx: Context,
  backupDir: string,
  result: DomainResult,
): Promise<void> {
  // A run refused for a name like "../x" must not write outside the backup dir either.
  if (!backupDir || !usableName(result.domain)) return;
  const dir = path.resolve(domainDir(backupDir, result.domain));
  if (!(await exists(dir))) return;
  try {
    const status = {
      domain: result.domain,
      lastRun: ctx.now().toISOString(),
      result: result.status,
      seconds: result.seconds,
      bytes: result.bytes ?? 0,
      point: result.point ?? null,
      ...statusFigures(await repoState(backupDir, result.domain)),
      warnings: result.warnings,
      error: result.error ?? null,
    };
    await writeFileAtomic(path.join(dir, STATUS_FILE), `${JSON.stringify(status, null, 2)}\n`);
  } catch (error) {
    ctx.log.info(`cannot write ${STATUS_FILE} for ${result.domain}: ${(error as Error).message}`);
  }
}

/**
 * --metrics-file: this run's figures per domain, with the catalog's for what persists across
 * runs (kept as they were when the catalog cannot be read).
 */
export async function updateMetrics(
  ctx: Context,
  file: string,
  backupDir: string,
  results: DomainResult[],
): Promise<void> {
  const metrics: DomainMetrics[] = [];
  for (const r of results) {
    const state = await repoState(backupDir, r.domain);
    const run = {
      lastRun: Math.round(ctx.now().getTime() / 1000),
      lastRunSuccess: r.status === "ok",
      lastRunSeconds: r.seconds,
      lastRunBytes: r.bytes ?? 0,
      warnings: r.warnings.length,
    };
    if (!state) metrics.push({ domain: r.domain, run });
    else {
      const { lastPoint: _, ...repo } = state;
      metrics.push({ domain: r.domain, run, repo });
    }
  }
  try {
    await writeMetricsFile(file, metrics);
  } catch (error) {
    // Monitoring output must not turn a good backup into a failed one.
    ctx.log.warn(`cannot write metrics to ${file}: ${(error as Error).message}`);
  }
}
