import path from "node:path";
import { isVirtsnapOverlay, readChain } from "../chain/live-chain.js";
import type { Context } from "../context.js";
import { isImageDisk } from "../libvirt/disk-selection.js";
import { checkDomainName, readDomain } from "../libvirt/domain.js";
import { readCatalog } from "../repo/catalog.js";
import { domainDir } from "../repo/paths.js";
import type { Layer, RestorePoint } from "../types.js";

export interface InfoOptions {
  domain: string;
  backupDir: string | undefined;
}

export interface InfoReport {
  domain: string;
  uuid: string;
  active: boolean;
  libvirt: string | undefined;
  hypervisor: string | undefined;
  cbtSupported: boolean;
  disks: {
    target: string;
    device: string;
    type: string;
    chain: (Layer & { virtsnap: boolean })[];
  }[];
  lastPoint: RestorePoint | null;
}

export async function info(ctx: Context, options: InfoOptions): Promise<InfoReport> {
  checkDomainName(options.domain);
  const domain = await readDomain(ctx.run, ctx.virsh, options.domain);
  const version = (await ctx.run(ctx.virsh.version())).stdout;
  const caps = (await ctx.run(ctx.virsh.capabilitiesOfDomains())).stdout;
  const disks = [];
  for (const disk of domain.disks) {
    const readable = isImageDisk(disk);
    const layers = readable ? (await readChain(ctx.run, disk)).layers : [];
    disks.push({
      target: disk.target,
      device: disk.device,
      type: disk.type,
      chain: layers.map((l) => ({ ...l, virtsnap: isVirtsnapOverlay(l) })),
    });
  }
  const catalog = options.backupDir
    ? await readCatalog(path.resolve(domainDir(options.backupDir, domain.name)))
    : undefined;
  return {
    domain: domain.name,
    uuid: domain.uuid,
    active: domain.active,
    libvirt: /Using library: (.+)/.exec(version)?.[1],
    hypervisor: /Running hypervisor: (.+)/.exec(version)?.[1],
    cbtSupported: /<backup supported='yes'\/>/.test(caps),
    disks,
    lastPoint: catalog?.points.at(-1) ?? null,
  };
}
