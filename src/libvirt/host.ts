import type { Context } from "../context.js";

/** What the host can do, probed once at the start of a run. */
export interface HostFacts {
  libvirt: string | undefined;
  qemu: string | undefined;
  /** `virsh domcapabilities` shows <backup supported='yes'/>: cbt mode works. */
  cbt: boolean;
  /**
   * Active block commit (libvirt >= 1.2.9, QEMU >= 2.0): what merges a new overlay back when a
   * running domain's backup fails, so snapshot mode on a running domain needs it.
   */
  activeCommit: boolean;
}

/** `virsh version`: "Using library: libvirt 9.0.0" ... "Running hypervisor: QEMU 7.2.0". */
export function parseVersions(text: string): { libvirt?: string; qemu?: string } {
  const libvirt = /^Using library: libvirt (\d+\.\d+\.\d+)/m.exec(text)?.[1];
  const qemu = /^Running hypervisor: QEMU (\d+\.\d+\.\d+)/m.exec(text)?.[1];
  return { ...(libvirt ? { libvirt } : {}), ...(qemu ? { qemu } : {}) };
}

/** a >= b for dotted versions; an unknown version counts as new enough (said in the log). */
export function atLeast(version: string | undefined, wanted: string): boolean {
  if (version === undefined) return true;
  const a = version.split(".").map(Number);
  const b = wanted.split(".").map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

export function hostFacts(versionText: string, domainCapabilities: string): HostFacts {
  const { libvirt, qemu } = parseVersions(versionText);
  return {
    libvirt,
    qemu,
    cbt: /<backup supported='yes'\/>/.test(domainCapabilities),
    activeCommit: atLeast(libvirt, "1.2.9") && atLeast(qemu, "2.0.0"),
  };
}

export async function probeHost(ctx: Context): Promise<HostFacts> {
  const [version, caps] = await Promise.all([
    ctx.run(ctx.virsh.version()),
    ctx.run(ctx.virsh.capabilitiesOfDomains()),
  ]);
  const facts = hostFacts(version.stdout, caps.stdout);
  ctx.log.debug(
    `host: libvirt ${facts.libvirt ?? "?"}, QEMU ${facts.qemu ?? "?"}, cbt ${facts.cbt ? "yes" : "no"}, active commit ${facts.activeCommit ? "yes" : "no"}`,
  );
  return facts;
}
