import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { checkDomainName } from "../libvirt/domain.js";
import { chainDepth, latestPoint, readCatalog } from "./catalog.js";
import { writeFileAtomic } from "./files.js";
import { type RepoFigures, writeMetricsFile } from "./metrics.js";
import { domainDir, STATUS_FILE } from "./paths.js";

// What the repository holds, for status.json and the metrics: backup, prune and rotate change it.

/** The figures status.json and the metrics carry about the repository (not about a run). */
export interface RepoState extends RepoFigures {
  /** The newest point's id, or null without points. */
  lastPoint: string | null;
}

/**
 * The domain's repository figures from its catalog (zero for a domain never backed up there);
 * undefined when there is no backup dir or the catalog cannot be read, so old figures stay.
 */
export async function repoState(backupDir: string, domain: string): Promise<RepoState | undefined> {
  if (!backupDir || !usableName(domain)) return undefined;
  const catalog = await readCatalog(path.resolve(domainDir(backupDir, domain))).catch(() => null);
  if (catalog === null) return undefined;
  const newest = catalog && latestPoint(catalog);
  return {
    lastPoint: newest?.id ?? null,
    lastSuccess: newest ? Math.round(Date.parse(newest.time) / 1000) : undefined,
    points: catalog?.points.length ?? 0,
    chains: catalog?.chains.length ?? 0,
    chainDepth: catalog ? chainDepth(catalog) : 0,
  };
}

/** Whether the name can be a folder of the backup dir (see checkDomainName). */
export function usableName(domain: string): boolean {
  try {
    checkDomainName(domain);
    return true;
  } catch {
    return false;
  }
}

/** status.json's repository fields, in the order they appear in the file. */
export function statusFigures(state: RepoState | undefined) {
  return {
    lastPoint: state?.lastPoint ?? null,
    chainDepth: state?.chainDepth ?? 0,
    points: state?.points ?? 0,
    chains: state?.chains ?? 0,
  };
}

/**
 * After prune or rotate: status.json (where a backup run wrote one) and the metrics file get the
 * repository's new figures; the last run's own fields stay as that run left them. Never a reason
 * to fail the command that changed the repository.
 */
export async function refreshFigures(
  ctx: Context,
  backupDir: string,
  domain: string,
  metricsFile: string | undefined,
): Promise<void> {
  const state = await repoState(backupDir, domain);
  // No catalog (a mistyped name, a refused prune of nothing): nothing to tell.
  if (!state || state.chains === 0) return;
  const file = path.join(path.resolve(domainDir(backupDir, domain)), STATUS_FILE);
  try {
    const text = await fs.readFile(file, "utf8").catch(() => undefined);
    if (text !== undefined) {
      const status = { ...(JSON.parse(text) as object), ...statusFigures(state) };
      await writeFileAtomic(file, `${JSON.stringify(status, null, 2)}\n`);
    }
  } catch (error) {
    ctx.log.warn(`cannot update ${file}: ${(error as Error).message}`);
  }
  if (!metricsFile) return;
  try {
    const { lastPoint: _, ...repo } = state;
    await writeMetricsFile(metricsFile, [{ domain, repo }]);
  } catch (error) {
    ctx.log.warn(`cannot write metrics to ${metricsFile}: ${(error as Error).message}`);
  }
}
