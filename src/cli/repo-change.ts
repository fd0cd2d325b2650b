import type { Context } from "../context.js";
import { refreshFigures } from "../repo/figures.js";

/** What prune and rotate get besides their own options: where the metrics are. */
export interface RepoChange {
  domain: string;
  backupDir: string;
  dryRun: boolean;
  metricsFile: string | undefined;
}

/**
 * prune and rotate change what status.json and the metrics say about the repository (points,
 * chains, newest point, chain depth): refreshed afterwards, also after a failure half-way.
 */
export function refreshingFigures<R>(
  ctx: Context,
  change: RepoChange,
  work: Promise<R>,
): Promise<R> {
  return work.finally(async () => {
    if (change.dryRun) return;
    await refreshFigures(ctx, change.backupDir, change.domain, change.metricsFile);
  });
}
