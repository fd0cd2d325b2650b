import { overlaysOf } from "../chain/live-chain.js";
import type { Context } from "../context.js";
import type { Chain, Domain } from "../types.js";
import { pendingJournals, repairDomain } from "./repair.js";

/**
 * What a backup does first, under the domain's lock: repair what an earlier run left (a journal,
 * more than one virtsnap overlay, a block job), once. Returns whether it repaired anything, so the
 * caller reads the domain again.
 */
export async function repairBeforeBackup(
  ctx: Context,
  domain: Domain,
  dir: string,
  chains: Chain[],
): Promise<boolean> {
  const journals = await pendingJournals(ctx, domain.name, dir);
  const name = domain.name;
  if (journals.length > 0) {
    // A run that failed has undone its work already; one that was killed may have left anything.
    if (journals.every((j) => j.failed))
      ctx.log.info(`${name}: checking what the last (failed) run left, first`);
    else ctx.log.warn(`${name}: an earlier run was interrupted; repairing that first`);
  } else {
    const left = await leftovers(ctx, domain, chains);
    if (left.length === 0) return false;
    // Stacking a second overlay on a leftover would make the chain longer with every failure.
    ctx.log.warn(`${name}: ${left.join("; ")}, left by an earlier run: repairing that first`);
  }
  await repairDomain(ctx, domain, dir);
  return true;
}

/** Signs that an earlier run died mid-way: more than one virtsnap overlay, or a block job running. */
export async function leftovers(ctx: Context, domain: Domain, chains: Chain[]): Promise<string[]> {
  const jobs = await Promise.all(
    chains.map(async (chain) =>
      domain.active
        ? (await ctx.run(ctx.virsh.blockJobInfo(domain.name, chain.target))).stdout.trim()
        : "",
    ),
  );
  const found: string[] = [];
  chains.forEach((chain, i) => {
    const overlays = overlaysOf(chain).length;
    if (overlays > 1) found.push(`disk ${chain.target} sits on ${overlays} virtsnap overlays`);
    if (jobs[i] !== "") found.push(`disk ${chain.target} has a block job running`);
  });
  return found;
}
