import path from "node:path";
import { cbtBackup } from "../cbt/capture.js";
import { planCbt } from "../cbt/plan.js";
import { consolidateDisk } from "../chain/consolidate.js";
import { overlaysOf } from "../chain/live-chain.js";
import type { Context } from "../context.js";
import { type JournalStart, withJournal } from "../domain-lock.js";
import type { Journal } from "../journal.js";
import { JOURNAL_FILE } from "../journal.js";
import { snapshotBackup } from "../snapshot/capture.js";
import type {
  Chain,
  Domain,
  ExcludedDisk,
  Mode,
  Repository,
  RestorePoint,
  Transfer,
} from "../types.js";
import type { BackupOptions } from "./backup-options.js";
import { snapshotPlan } from "./backup-plan.js";

// The capture of one point, planned (for the report and a dry run) before it runs.

export interface Capture {
  plan: {
    pointId: string;
    chain: string;
    level: string;
    jobs: { target: string; level: string; file: string; wholeReason: string | undefined }[];
  };
  run: () => Promise<RestorePoint>;
}

export function prepareCapture(
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
      journaled(
        ctx,
        repo,
        { command: "backup.snapshot", domain: domain.name, pointId },
        (journal) =>
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
    journaled(
      ctx,
      repo,
      { command: "backup.cbt", domain: domain.name, pointId },
      async (journal) => {
        await leaveSnapshotOverlays(ctx, domain, chains);
        return cbtBackup(ctx, domain, plan, repo, quiesce, transfer, fullInstead, journal);
      },
    );
  return { plan, run };
}

/**
 * The journal lives while the capture does; after a failure it stays, marked failed (the capture
 * merged its overlays back), for repair to check (DESIGN.md).
 */
function journaled<C extends "backup.snapshot" | "backup.cbt">(
  ctx: Context,
  repo: Repository,
  record: JournalStart<C>,
  work: (journal: Journal<C>) => Promise<RestorePoint>,
): Promise<RestorePoint> {
  const file = path.join(repo.dir, JOURNAL_FILE);
  return withJournal(ctx, file, record, { undoesItself: true }, work);
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
