import type { Context } from "./context.js";
import { Journal, type JournalRecord } from "./journal.js";
import { lockDomain } from "./lock.js";
import type { Command } from "./steps.js";

/**
 * Every mutating command's frame: take the domain's lock (or throw LockedError), do the work,
 * release the lock whatever happened. A journal, when the work opens one, is opened inside with
 * withJournal: most commands decide first (under the lock) whether there is anything to do.
 */
export async function withDomainLock<T>(
  ctx: Context,
  domain: string,
  command: string,
  work: () => Promise<T>,
): Promise<T> {
  const release = await lockDomain(ctx, domain, command);
  try {
    return await work();
  } finally {
    await release();
  }
}

export type JournalStart<C extends Command> = Omit<JournalRecord, "steps" | "pid" | "startedAt"> & {
  command: C;
};

/**
 * How a command's work ends when it throws. `undoesItself`: it puts back what it changed (a backup
 * merges its overlays back), so the journal is marked failed and says only that. Otherwise (prune
 * and rotate finish what they started, consolidate --all-layers too) the journal stays as a killed
 * run's would, for repair or the next run to finish.
 */
export interface OnFailure {
  undoesItself: boolean;
}

/**
 * The journal lives while the work does and is removed when it is over; after a failure it stays
 * (marked failed if the work undid itself), after a kill it stays as it is (DESIGN.md).
 */
export async function withJournal<C extends Command, T>(
  ctx: Pick<Context, "env">,
  file: string,
  record: JournalStart<C>,
  onFailure: OnFailure,
  work: (journal: Journal<C>) => Promise<T>,
): Promise<T> {
  const journal = await Journal.open(file, record, ctx.env);
  let result: T;
  try {
    result = await work(journal);
  } catch (error) {
    if (onFailure.undoesItself) await journal.note({ failed: true }).catch(() => {});
    throw error;
  }
  await journal.close();
  return result;
}
