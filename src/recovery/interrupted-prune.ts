import path from "node:path";
import type { Context } from "../context.js";
import { withJournal } from "../domain-lock.js";
import { JOURNAL_FILE, readJournal } from "../journal.js";
import { existingRepo } from "../repo/access.js";
import { planPrune } from "../repo/retention.js";
import { carryOut, deleteRemoved } from "./prune-steps.js";

/** The points an interrupted prune was removing, if one is waiting to be finished. */
export async function interruptedPrune(repoDir: string): Promise<string[] | undefined> {
  const record = await readJournal(path.join(repoDir, JOURNAL_FILE));
  return record?.command === "prune" && record.removed ? record.removed : undefined;
}

/**
 * A prune that died is finished, never undone: its merges may already have changed files of kept
 * points, and every step is safe to run again. Returns whether there was one.
 */
export async function finishInterruptedPrune(
  ctx: Context,
  domain: string,
  repoDir: string,
): Promise<boolean> {
  const ids = await interruptedPrune(repoDir);
  if (!ids) return false;
  ctx.log.warn(`${domain}: finishing an interrupted prune`);
  const { catalog } = await existingRepo(path.dirname(repoDir), domain);
  const removed = ids.filter((id) => catalog.points.some((p) => p.id === id));
  const record = { command: "prune" as const, domain, removed: ids };
  // A prune is finished, never undone: a failure leaves the journal for the next run to finish.
  const file = path.join(repoDir, JOURNAL_FILE);
  await withJournal(ctx, file, record, { undoesItself: false }, async (journal) => {
    if (removed.length > 0)
      await carryOut(ctx, domain, repoDir, catalog, planPrune(catalog, removed), journal);
    else {
      // The catalog was written: only the deletions may be unfinished.
      const formerly = ids.map((id) => `virtsnap-${id}`);
      await deleteRemoved(ctx, domain, repoDir, catalog, journal, formerly);
    }
  });
  return true;
}
