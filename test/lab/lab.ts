/**
 * The test lab: throwaway TCG domains on the real libvirtd, known writes into their disks, and the
 * expected image of each disk rebuilt offline from the same writes (shared/LAB.md).
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

export const IMAGES = "/var/lib/libvirt/images";
const BIN = fileURLToPath(new URL("../../../bin/virtsnap.js", import.meta.url));

export interface Result {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function sh(file: string, args: string[]): Promise<Result> {
  const r = await execa(file, args, { reject: false, env: { LC_ALL: "C" }, stdin: "ignore" });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

/** Like sh, but a failure is a broken lab, not a test result. */
export async function must(file: string, args: string[]): Promise<string> {
  const r = await sh(file, args);
  if (r.exitCode !== 0)
    throw new Error(`${file} ${args.join(" ")} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout;
}

/** Runs the CLI exactly as a user would. */
export async function virtsnap(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const r = await execa(process.execPath, [BIN, ...args], {
    reject: false,
    env: { ...env },
    stdin: "ignore",
  });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

/**
 * What every name this test run makes carries: the pid of the `node --test` runner, which is the
 * parent of every test file's process (VIRTSNAP_TEST_RUN overrides it). test/e2e/zz-leftovers
 * fails when a domain with this run's tag is still defined at the end.
 */
export function runTag(): string {
  return process.env.VIRTSNAP_TEST_RUN ?? `r${process.ppid}`;
}

export function uniqueName(prefix = "vst"): string {
  return `${prefix}-${runTag()}-${randomBytes(3).toString("hex")}`;
}

/** A fresh folder that QEMU can walk through (as a real backup dir is), for cbt push targets. */
export async function tempDir(prefix = "virtsnap-test-"): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await fs.chmod(dir, 0o711);
  return dir;
}

/** `qemu-img compare` is the oracle: identical guest-visible content, whatever the formats. */
/** sha256 of a file, computed here rather than by virtsnap's code (tests check virtsnap's). */
export async function sha256(file: string): Promise<string> {
  return createHash("sha256")
    .update(await fs.readFile(file))
    .digest("hex");
}

export async function identical(expected: string, actual: string): Promise<boolean> {
  const r = await sh("qemu-img", ["compare", "-U", expected, actual]);
  if (r.exitCode > 1) throw new Error(`qemu-img compare failed: ${r.stderr}`);
  return r.exitCode === 0;
}

export interface LabDisk {
  target: string;
  format: "qcow2" | "raw";
  sizeMiB: number;
  /** qcow2 compat level: "1.1" (v3, default) or "0.10" (v2). */
  compat?: "1.1" | "0.10";
  /** File name inside the domain's folder (default: <target>.<format>). */
  file?: string;
  /** A qcow2 template (absolute path) the disk's own image is a linked clone of. */
  backing?: string;
  /** A type='block' disk: the raw image is attached to a loop device (`path` is /dev/loopN). */
  block?: boolean;
}

export interface LabDomainOptions {
  name?: string;
  disks: LabDisk[];
  cdrom?: boolean;
  /** Extra <disk> elements, verbatim (network or block disks that virtsnap must skip). */
  extraDisksXml?: string;
  /** Sub-folder for the images inside the domain's folder (to test paths with spaces). */
  subdir?: string;
  start?: boolean;
  /** UEFI (OVMF from Debian's ovmf, q35): libvirt makes the nvram store at the first start. */
  efi?: boolean;
  /** An emulated TPM 2.0 (swtpm); its state appears at the first start. */
  tpm?: boolean;
  /** Extra elements inside <os> (e.g. <kernel>, <initrd>), verbatim. */
  osXml?: string;
}

interface Write {
  pattern: number;
  offset: number;
  length: number;
}

const MiB = 1024 * 1024;

function xmlEscape(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

export class LabDomain {
  private readonly writes = new Map<string, Write[]>();

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly disks: (LabDisk & { path: string; image: string })[],
  ) {
    for (const d of disks) this.writes.set(d.target, []);
  }

  static async create(options: LabDomainOptions): Promise<LabDomain> {
    const name = options.name ?? uniqueName();
    const dir = path.join(IMAGES, `vst-${randomBytes(4).toString("hex")}`);
    const imageDir = options.subdir ? path.join(dir, options.subdir) : dir;
    await fs.mkdir(imageDir, { recursive: true });
    const disks = options.disks.map((d) => {
      const image = path.join(imageDir, d.file ?? `${d.target}.${d.format}`);
      return { ...d, image, path: image };
    });
    const domain = new LabDomain(name, dir, disks);
    try {
      for (const d of disks) {
        const opts = d.format === "qcow2" ? ["-o", `compat=${d.compat ?? "1.1"}`] : [];
        if (d.backing) opts.push("-b", d.backing, "-F", "qcow2");
        await must("qemu-img", ["create", "-q", "-f", d.format, ...opts, d.image, `${d.sizeMiB}M`]);
        // A fresh loop device per disk; destroy() detaches it, also after a failed create.
        if (d.block) d.path = (await must("losetup", ["-f", "--show", d.image])).trim();
      }
      const xmlFile = path.join(dir, "domain.xml");
      await fs.writeFile(xmlFile, domain.xml(options));
      await must("virsh", ["define", "--file", xmlFile]);
      if (options.start !== false) await domain.start();
    } catch (error) {
      await domain.destroy();
      throw error;
    }
    return domain;
  }

  private xml(options: LabDomainOptions): string {
    const disks = this.disks.map(
      (
        d,
      ) => `<disk type='${d.block ? "block" : "file"}' device='disk'><driver name='qemu' type='${d.format}'/>
        <source ${d.block ? "dev" : "file"}='${xmlEscape(d.path)}'/><target dev='${d.target}' bus='virtio'/></disk>`,
    );
    if (options.cdrom)
      disks.push(
        `<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/><readonly/></disk>`,
      );
    const efi = options.efi
      ? `<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
         <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'/>`
      : "";
    const tpm = options.tpm
      ? "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>"
      : "";
    return `<domain type='qemu'><name>${xmlEscape(this.name)}</name>
      <memory unit='MiB'>${options.efi ? 128 : 64}</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='${options.efi ? "q35" : "pc"}'>hvm</type>${efi}${options.osXml ?? ""}</os>
      ${options.efi ? "<features><acpi/></features>" : ""}
      <devices>${disks.join("\n")}${options.extraDisksXml ?? ""}${tpm}</devices></domain>`;
  }

  async start(): Promise<void> {
    await must("virsh", ["start", "--domain", this.name]);
  }

  /** No guest OS to shut down cleanly; SIGTERM makes QEMU flush and exit (destroy --graceful). */
  async stop(): Promise<void> {
    await must("virsh", ["destroy", "--graceful", "--domain", this.name]);
  }

  async state(): Promise<string> {
    return (await must("virsh", ["domstate", "--domain", this.name])).trim();
  }

  /** Writes `length` bytes of `pattern` at `offset` into the disk as the guest would. */
  async write(
    target: string,
    pattern: number,
    offsetMiB: number,
    lengthMiB: number,
  ): Promise<void> {
    const w = { pattern, offset: offsetMiB * MiB, length: lengthMiB * MiB };
    const io = `write -P 0x${pattern.toString(16)} ${w.offset} ${w.length}`;
    if ((await this.state()) === "running") {
      const alias = await this.alias(target);
      const out = await must("virsh", [
        "qemu-monitor-command",
        "--hmp",
        "--domain",
        this.name,
        `qemu-io -d /machine/peripheral/${alias}/virtio-backend "${io}"`,
      ]);
      if (out.trim() !== "") throw new Error(`qemu-io via HMP said: ${out}`);
    } else {
      const top = await this.source(target);
      const format = JSON.parse(await must("qemu-img", ["info", "--output=json", top]))
        .format as string;
      await must("qemu-io", ["-f", format, top, "-c", io]);
    }
    this.writes.get(target)?.push(w);
  }

  /** Data the disk shows without a write through the domain (a linked clone's template holds it). */
  assumeWritten(target: string, pattern: number, offsetMiB: number, lengthMiB: number): void {
    this.writes.get(target)?.push({ pattern, offset: offsetMiB * MiB, length: lengthMiB * MiB });
  }

  /** How many writes each disk has had: pass it to expectedImage to get the content at that moment. */
  mark(): Map<string, number> {
    return new Map([...this.writes].map(([t, w]) => [t, w.length]));
  }

  /** A fresh image holding exactly the writes made up to `mark` (default: all of them). */
  async expectedImage(target: string, into: string, mark?: Map<string, number>): Promise<string> {
    const disk = this.disks.find((d) => d.target === target);
    if (!disk) throw new Error(`no lab disk ${target}`);
    const writes = (this.writes.get(target) ?? []).slice(0, mark?.get(target));
    const file = path.join(into, `expected-${target}-${writes.length}.qcow2`);
    await must("qemu-img", ["create", "-q", "-f", "qcow2", file, `${disk.sizeMiB}M`]);
    const cmds = writes.flatMap((w) => [
      "-c",
      `write -P 0x${w.pattern.toString(16)} ${w.offset} ${w.length}`,
    ]);
    if (cmds.length > 0) await must("qemu-io", ["-f", "qcow2", file, ...cmds]);
    return file;
  }

  private async alias(target: string): Promise<string> {
    const xml = await must("virsh", ["dumpxml", "--domain", this.name]);
    const disk = xml.split("<disk ").find((d) => d.includes(`dev='${target}'`));
    const alias = /<alias name='([^']+)'/.exec(disk ?? "")?.[1];
    if (!alias) throw new Error(`no alias for ${target}`);
    return alias;
  }

  /** The file libvirt points the disk at now (the top of its live chain). */
  async source(target: string): Promise<string> {
    const xml = await must("virsh", ["dumpxml", "--inactive", "--domain", this.name]);
    const disk = xml.split("<disk ").find((d) => d.includes(`dev='${target}'`));
    const file = /<source (?:file|dev)='([^']+)'/.exec(disk ?? "")?.[1];
    if (!file) throw new Error(`no source for ${target}`);
    return file
      .replace(/&apos;/g, "'")
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, "&")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">");
  }

  /** The disk's live chain, top first, as qemu-img sees it. */
  async chain(target: string): Promise<string[]> {
    const top = await this.source(target);
    const info = JSON.parse(
      await must("qemu-img", ["info", "-U", "--backing-chain", "--output=json", top]),
    ) as { filename: string }[];
    return info.map((i) => i.filename);
  }

  /** virtsnap overlays lying anywhere in the domain's folder, or in virtsnap's block-overlay folder. */
  async overlayFiles(): Promise<string[]> {
    const found: string[] = [];
    for (const dir of [this.dir, this.blockOverlayDir]) {
      const entries = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]);
      for (const e of entries)
        if (/\.virtsnap-\d{8}T\d{6}Z\.qcow2$/.test(e)) found.push(path.join(dir, e));
    }
    return found;
  }

  /** Where virtsnap puts the overlays of this domain's block disks (README, "snapshot mode"). */
  get blockOverlayDir(): string {
    return path.join("/var/lib/virtsnap/overlays", this.name);
  }

  /** Always safe to call: ends QEMU, removes the definition and every file of the domain. */
  async destroy(): Promise<void> {
    const undefine = await removeDomain(this.name);
    for (const d of this.disks.filter((x) => x.block && x.path !== x.image))
      await sh("losetup", ["-d", d.path]);
    await fs.rm(this.blockOverlayDir, { recursive: true, force: true });
    await fs.rm(this.dir, { recursive: true, force: true });
    // A domain left defined outlives the run; say so rather than leak it silently.
    if (undefine) throw new Error(`lab domain ${this.name} is still defined: ${undefine}`);
  }
}

/**
 * Where libvirtd keeps persistent domains' configs. libvirt 9.0 writes it again when a backup job
 * with a checkpoint ends on a domain that was undefined during the job (it is transient then): the
 * daemon no longer lists the domain once it stops, but defines it again from this file at its next
 * start. Seen with plain virsh (backup-begin, undefine, job ends); cbt.test.ts's "undefined during
 * the job" case left one such domain per run.
 */
export const LIBVIRT_CONFIGS = "/etc/libvirt/qemu";

function staleConfig(name: string): string {
  return path.join(LIBVIRT_CONFIGS, `${name}.xml`);
}

/**
 * Ends and undefines a domain; returns why it is still defined, if it is. On a busy host QEMU may
 * take longer to die than `virsh destroy` waits (an undefine of a domain that still runs only
 * makes it transient), and any virsh call may fail to reach libvirtd: so both are tried again
 * until libvirt itself says the domain does not exist. A failed `dominfo` is not proof of that.
 */
export async function removeDomain(name: string): Promise<string | undefined> {
  let reason = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const destroy = await sh("virsh", ["destroy", "--domain", name]);
    const undefine = await sh("virsh", [
      "undefine",
      "--domain",
      name,
      "--checkpoints-metadata",
      "--snapshots-metadata",
      "--nvram",
    ]);
    const info = await sh("virsh", ["dominfo", "--domain", name]);
    if (info.exitCode !== 0 && /failed to get domain|Domain not found/i.test(info.stderr)) {
      await fs.rm(staleConfig(name), { force: true });
      return undefined;
    }
    reason = `${destroy.stderr.trim()} ${undefine.stderr.trim()} ${info.stderr.trim()}`.trim();
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  return reason || "virsh undefine said nothing";
}
