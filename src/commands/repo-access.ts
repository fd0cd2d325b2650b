import path from "node:path";
import type { Context } from "../context.js";
import { OperationError, UsageError } from "../errors.js";
import { checkDomainName } from "../libvirt/domain.js";
import { parseDomainXml } from "../libvirt/domain-xml.js";
import { readChain } from "../qemu/live-chain.js";
import { readCatalog } from "../repo/catalog.js";
import { domainDir } from "../repo/paths.js";
import type { Catalog } from "../types.js";

/** The catalog of a domain that must already have backups in `backupDir`. */
export async function existingRepo(
  backupDir: string,
  domain: string,
): Promise<{ dir: string; catalog: Catalog }> {
  checkDomainName(domain);
  const dir = path.resolve(domainDir(backupDir, domain));
  const catalog = await readCatalog(dir);
  if (!catalog) throw new UsageError(`no backups of '${domain}' in ${backupDir}`);
  return { dir, catalog };
}

/**
 * prune and rotate merge, rename and delete repository files. A domain of this host whose disks
 * read from them (restore --instant puts overlays on top of them) would lose its data, so they
 * stop while one does. Found from the disks' backing chains rather than a record of instant
 * restores, so a domain pulled free (virtsnap's hint: blockpull) or deleted no longer counts.
 */
export async function refuseIfReadByDomains(
  ctx: Context,
  repoDir: string,
  command: string,
): Promise<void> {
  const inside = (file: string) => path.resolve(file).startsWith(repoDir + path.sep);
  const { stdout } = await ctx.run(ctx.virsh.listNames(false));
  const names = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  for (const name of names) {
    // A domain undefined meanwhile has nothing left to read.
    const xml = await ctx.run(ctx.virsh.dumpXml(name)).catch(() => undefined);
    if (!xml) continue;
    for (const disk of (await parseDomainXml(xml.stdout)).disks) {
      if (disk.type !== "file" || !disk.source) continue;
      // An unreadable chain (the image or its backing file is gone) leaves only the source to judge.
      const source = disk.source;
      const files = await readChain(ctx.run, disk).then(
        (chain) => chain.layers.map((l) => l.file),
        () => [source],
      );
      if (files.some(inside)) {
        throw new OperationError(
          `domain '${name}' disk ${disk.target} reads from ${repoDir} (an instant recovery?), so ${command} would take its data away: make its disks independent first ('virsh blockpull ${name} ${disk.target} --wait' while it runs) or remove that domain`,
        );
      }
    }
  }
}
