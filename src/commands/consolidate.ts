import { consolidateDisk, type DiskOutcome, type Method } from "../chain/consolidate.js";
import type { Context } from "../context.js";
import { UsageError } from "../errors.js";
import { Journal } from "../journal.js";
import { isImageDisk } from "../libvirt/disk-selection.js";
import { checkDomainName, readDomain } from "../libvirt/domain.js";
import { hostJournalFile, lockDomain } from "../lock.js";

export interface ConsolidateOptions {
  domain: string;
  method: Method;
  allLayers: boolean;
}

export interface ConsolidateReport {
  domain: string;
  disks: DiskOutcome[];
}

/**
 * Live-chain upkeep. Default: merge frozen virtsnap layers so each disk is `own image <- active
 * overlay` (the next backup stays incremental). --all-layers: back onto the own image alone.
 */
export async function consolidate(
  ctx: Context,
  options: ConsolidateOptions,
): Promise<ConsolidateReport> {
  checkDomainName(options.domain);
  if (options.allLayers && options.method === "pull") {
    throw new UsageError(
      "--all-layers merges into the domain's own image, which only --method commit can do",
    );
  }
  const domain = await readDomain(ctx.run, ctx.virsh, options.domain);
  const release = await lockDomain(ctx, domain.name, "consolidate");
  try {
    const journal = await Journal.open(
      hostJournalFile(ctx.lockDir, ctx.uri, domain.name),
      { command: "consolidate", domain: domain.name, allLayers: options.allLayers },
      ctx.env,
    );
    const disks = domain.disks.filter(isImageDisk);
    const outcomes: DiskOutcome[] = [];
    await journal.step("merge");
    for (const disk of disks) {
      const outcome = await consolidateDisk(ctx, domain, disk, options.method, options.allLayers);
      ctx.log.info(`disk ${disk.target}: ${[...outcome.after].reverse().join(" <- ")}`);
      outcomes.push(outcome);
    }
    await journal.step("cleanup");
    await journal.close();
    return { domain: domain.name, disks: outcomes };
  } finally {
    await release();
  }
}
