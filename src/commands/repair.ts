import path from "node:path";
import type { Context } from "../context.js";
import { withDomainLock } from "../domain-lock.js";
import { checkDomainName, readDomain } from "../libvirt/domain.js";
import { repairDomain } from "../recovery/repair.js";
import { domainDir } from "../repo/paths.js";

export interface RepairOptions {
  domain: string;
  backupDir: string | undefined;
}

export interface RepairReport {
  domain: string;
  actions: string[];
}

/** `virtsnap repair`: what src/recovery/repair.ts does, under the domain's lock. */
export async function repair(ctx: Context, options: RepairOptions): Promise<RepairReport> {
  checkDomainName(options.domain);
  const domain = await readDomain(ctx.run, ctx.virsh, options.domain);
  return withDomainLock(ctx, domain.name, "repair", async () => {
    const repoDir = options.backupDir
      ? path.resolve(domainDir(options.backupDir, domain.name))
      : undefined;
    return { domain: domain.name, actions: await repairDomain(ctx, domain, repoDir) };
  });
}
