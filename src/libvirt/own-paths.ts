// restore --define: a domain that runs beside the original must share none of its per-domain
// host resources. Disks, nvram and TPM are handled by restore itself; this is the rest.
import path from "node:path";
import { build, children, type Node, parseXml } from "./domain-xml.js";

export interface OwnPaths {
  xml: string;
  /** What was dropped or is still shared, for the user (one warning each). */
  warnings: string[];
}

/** Devices that are a chardev themselves (type + <source>), as libvirt's formatdomain says. */
const CHARDEVS = ["serial", "parallel", "console", "channel", "redirdev", "smartcard"];

/**
 * Rewrites or drops every host path and fixed resource of `xml` that two domains cannot share:
 * - chardev files (`<serial type='file'>`, `<log file=...>`) and listening unix sockets move into
 *   `to` (virtlogd refuses a log file another domain holds: "Device or resource busy");
 * - a virtio channel's socket path is dropped: libvirt makes one in the new domain's own folder;
 * - graphics sockets are dropped and fixed ports made automatic; a fixed tap name is dropped;
 * - an rng's egd backend is a chardev too; a fixed vsock CID is made automatic;
 * - host devices (PCI/USB passthrough, `<interface type='hostdev'>` VFs) and nvdimm memory backed by
 *   a file are left out.
 */
export async function withOwnPaths(xml: string, to: string): Promise<OwnPaths> {
  const root = await parseXml(xml);
  const domain = root.domain as Node;
  const devices = children(domain, "devices")[0];
  const warnings: string[] = [];
  if (!devices) return { xml, warnings };
  const moved = new Map<string, string>();
  const taken = new Set<string>();
  // The same old path (a serial and its <console> twin) moves to the same new one.
  const move = (old: string) => {
    let target = moved.get(old);
    if (target) return target;
    const { name, ext } = path.parse(old);
    target = path.join(to, name + ext);
    for (let n = 2; taken.has(target); n++) target = path.join(to, `${name}-${n}${ext}`);
    taken.add(target);
    moved.set(old, target);
    return target;
  };
  for (const kind of CHARDEVS) {
    for (const dev of children(devices, kind)) ownChardev(kind, dev, move, warnings);
  }
  for (const rng of children(devices, "rng")) {
    for (const backend of children(rng, "backend"))
      if (backend.$?.model === "egd") ownChardev("rng", backend, move, warnings);
  }
  for (const graphics of children(devices, "graphics")) ownGraphics(graphics);
  ownInterfaces(devices, warnings);
  for (const vsock of children(devices, "vsock")) {
    // Two domains with one CID: the second one fails to start ("vhost-vsock: unable to set guest cid").
    for (const cid of children(vsock, "cid")) cid.$ = { auto: "yes" };
  }
  if (children(devices, "hostdev").length > 0) {
    warnings.push("host devices (<hostdev>) are left out: one device cannot serve two domains");
    delete devices.hostdev;
  }
  const memories = children(devices, "memory");
  const nvdimms = memories.filter((m) => m.$?.model === "nvdimm");
  if (nvdimms.length > 0) {
    warnings.push(
      "nvdimm memory devices are left out: their backing file holds the original's data",
    );
    devices.memory = memories.filter((m) => m.$?.model !== "nvdimm");
  }
  for (const fsys of children(devices, "filesystem")) {
    const dir = children(fsys, "source")[0]?.$?.dir;
    if (dir) warnings.push(`the host folder ${dir} (<filesystem>) is shared with the original`);
  }
  if (Object.keys(domain).some((k) => k.endsWith(":commandline")))
    warnings.push("<qemu:commandline> is kept as it is: check it names no path of the original");
  return { xml: build(root), warnings };
}

function ownChardev(
  kind: string,
  dev: Node,
  move: (old: string) => string,
  warnings: string[],
): void {
  const type = dev.$?.type;
  for (const log of children(dev, "log")) {
    if (log.$?.file) log.$.file = move(log.$.file);
  }
  for (const source of children(dev, "source")) {
    const attrs = source.$;
    if (!attrs) continue;
    if (type === "file" && attrs.path) attrs.path = move(attrs.path);
    if (type === "unix" && attrs.path && attrs.mode !== "connect") {
      const virtio = children(dev, "target")[0]?.$?.type === "virtio";
      // libvirt names a virtio channel's socket itself, in the domain's own folder.
      if (kind === "channel" && virtio) delete attrs.path;
      else attrs.path = move(attrs.path);
    }
    if (type === "tcp" && attrs.mode === "bind" && attrs.service)
      warnings.push(`${kind} listens on TCP port ${attrs.service}: the original holds it already`);
  }
}

function ownInterfaces(devices: Node, warnings: string[]): void {
  const nics = children(devices, "interface");
  for (const nic of nics) {
    delete nic.target;
    if (nic.$?.type === "vhostuser")
      warnings.push("a vhost-user interface keeps its socket: the two domains share it");
  }
  // A VF passed through as a NIC is a host device like <hostdev>: it serves one domain.
  if (nics.some((n) => n.$?.type === "hostdev")) {
    warnings.push("host device interfaces (<interface type='hostdev'>) are left out");
    const kept = nics.filter((n) => n.$?.type !== "hostdev");
    if (kept.length > 0) devices.interface = kept;
    else delete devices.interface;
  }
}

function ownGraphics(graphics: Node): void {
  const attrs = graphics.$ ?? {};
  delete attrs.socket;
  for (const listen of children(graphics, "listen")) {
    if (listen.$?.socket) delete listen.$.socket;
  }
  if (attrs.port !== undefined || attrs.autoport === "no") {
    attrs.autoport = "yes";
    delete attrs.port;
    delete attrs.tlsPort;
  }
  // -1: libvirt picks a free websocket port.
  if (attrs.websocket !== undefined) attrs.websocket = "-1";
  graphics.$ = attrs;
}
