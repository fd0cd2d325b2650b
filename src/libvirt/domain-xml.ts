import xml2js from "xml2js";
import type { BootPaths, Disk, DiskDevice } from "../types.js";

// xml2js' object form of libvirt XML: attributes under "$", children as arrays.
export type Node = { $?: Record<string, string>; _?: string; [child: string]: unknown };

export interface DomainXml {
  name: string;
  uuid: string;
  disks: Disk[];
  guestAgent: boolean;
  boot: BootPaths;
  tpmEmulator: boolean;
}

const BOOT_KINDS = ["nvram", "kernel", "initrd", "dtb"] as const;

export async function parseXml(xml: string): Promise<Node> {
  return (await xml2js.parseStringPromise(xml)) as Node;
}

export function children(node: Node | undefined, name: string): Node[] {
  const value = node?.[name];
  return Array.isArray(value) ? (value as Node[]) : [];
}

function text(node: Node | undefined, name: string): string | undefined {
  const first = children(node, name)[0] as unknown;
  if (typeof first === "string") return first;
  return (first as Node | undefined)?._;
}

function diskNodes(root: Node): Node[] {
  const domain = root.domain as Node | undefined;
  return children(children(domain, "devices")[0], "disk");
}

export async function parseDomainXml(xml: string): Promise<DomainXml> {
  const root = await parseXml(xml);
  const domain = root.domain as Node | undefined;
  if (!domain) throw new Error("not a libvirt domain XML (no <domain> element)");
  return {
    name: text(domain, "name") ?? "",
    uuid: text(domain, "uuid") ?? "",
    disks: diskNodes(root).map(toDisk),
    guestAgent: children(children(domain, "devices")[0], "channel").some(
      (c) => children(c, "target")[0]?.$?.name === "org.qemu.guest_agent.0",
    ),
    boot: bootPaths(domain),
    tpmEmulator: children(children(domain, "devices")[0], "tpm").some(
      (t) => children(t, "backend")[0]?.$?.type === "emulator",
    ),
  };
}

function bootPaths(domain: Node): BootPaths {
  const os = children(domain, "os")[0];
  const paths: BootPaths = {};
  for (const kind of BOOT_KINDS) {
    const value = text(os, kind)?.trim();
    if (value?.startsWith("/")) paths[kind] = value;
  }
  return paths;
}

/** The XML with the boot files it names (nvram, kernel, initrd, dtb) moved to new paths. */
export async function withBootPaths(xml: string, paths: BootPaths): Promise<string> {
  const root = await parseXml(xml);
  const os = children(root.domain as Node, "os")[0];
  if (!os) return xml;
  for (const kind of BOOT_KINDS) {
    const path = paths[kind];
    const node = children(os, kind)[0] as unknown;
    if (path === undefined || node === undefined) continue;
    os[kind] = [typeof node === "string" ? path : { ...(node as Node), _: path }];
  }
  return build(root);
}

function targetOf(disk: Node): string {
  return children(disk, "target")[0]?.$?.dev ?? "";
}

function toDisk(node: Node): Disk {
  const source = children(node, "source")[0]?.$;
  return {
    target: targetOf(node),
    device: (node.$?.device ?? "disk") as DiskDevice,
    type: node.$?.type ?? "file",
    source: source?.file ?? source?.dev ?? source?.name,
    format: children(node, "driver")[0]?.$?.type,
    readonly: children(node, "readonly").length > 0,
    shareable: children(node, "shareable").length > 0,
  };
}

/** Where a disk's data lives: a file (qcow2 or raw), or a block device (`block`: <source dev>). */
export interface DiskSource {
  file: string;
  format: string;
  block?: boolean;
}

/**
 * The domain XML with some disks pointing at new files. <backingStore> is dropped so libvirt reads
 * the chain from the image header: a stale <backingStore> wins over the header (LAB.md).
 */
export async function withDiskSources(
  xml: string,
  sources: ReadonlyMap<string, DiskSource>,
  options: { dropOtherDisks?: boolean } = {},
): Promise<string> {
  const root = await parseXml(xml);
  if (options.dropOtherDisks) {
    const devices = children(root.domain as Node, "devices")[0];
    // cdrom and floppy media are shared read-only; a lun is the live device itself, like a disk.
    if (devices)
      devices.disk = diskNodes(root).filter(
        (d) => d.$?.device === "cdrom" || d.$?.device === "floppy" || sources.has(targetOf(d)),
      );
  }
  for (const disk of diskNodes(root)) {
    const replacement = sources.get(targetOf(disk));
    if (!replacement) continue;
    // A block device back under its disk after an offline commit is type='block' <source dev> again.
    disk.$ = { ...disk.$, type: replacement.block ? "block" : "file" };
    disk.source = [
      { $: replacement.block ? { dev: replacement.file } : { file: replacement.file } },
    ];
    const driver = children(disk, "driver")[0];
    disk.driver = [{ ...driver, $: { ...driver?.$, name: "qemu", type: replacement.format } }];
    delete disk.backingStore;
  }
  return build(root);
}

/**
 * The XML made into a new domain beside the original: another name, no uuid and no MAC addresses
 * (libvirt makes new ones), so both can be defined and run at once.
 */
export async function asNewDomain(xml: string, name: string): Promise<string> {
  const root = await parseXml(xml);
  const domain = root.domain as Node;
  domain.name = [name];
  delete domain.uuid;
  for (const nic of children(children(domain, "devices")[0], "interface")) delete nic.mac;
  return build(root);
}

/**
 * restore --instant: each disk's backing chain spelled out (libvirt then uses it instead of the
 * image headers), every layer with <seclabel model='dac' relabel='no'/>, so libvirt never chowns
 * the repository's files to QEMU's user (and never leaves them so: it does not restore the labels
 * of backing files when a domain stops). QEMU reads them through the group access virtsnap lends.
 */
export async function withReadOnlyBackingChains(
  xml: string,
  chains: ReadonlyMap<string, readonly string[]>,
): Promise<string> {
  const root = await parseXml(xml);
  for (const disk of diskNodes(root)) {
    const files = chains.get(targetOf(disk));
    if (!files) continue;
    let store: unknown = "";
    for (const file of [...files].reverse()) {
      store = {
        $: { type: "file" },
        format: [{ $: { type: "qcow2" } }],
        source: [{ $: { file }, seclabel: [{ $: { model: "dac", relabel: "no" } }] }],
        backingStore: [store],
      };
    }
    disk.backingStore = [store];
  }
  return build(root);
}

export function build(root: Node): string {
  return new xml2js.Builder({
    headless: true,
    renderOpts: { pretty: true, indent: "  ", newline: "\n" },
  }).buildObject(root);
}
