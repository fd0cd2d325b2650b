/**
 * A throwaway TCG domain on the legacy host (test/hosts/bullseye-up.sh: libvirt 7.0, QEMU 5.2),
 * driven through that host's own virsh, with the expected image of its disk rebuilt offline
 * from the same writes (by this machine's qemu-io, on the root's files).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { BULLSEYE, inRoot, mustInRoot } from "./hosts.js";
import { must } from "./lab.js";

const MiB = 1024 * 1024;
const AGENT_CHANNEL =
  "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>";

export class LegacyDomain {
  private readonly writes: string[] = [];

  private constructor(
    readonly name: string,
    /** The folder of its image, as the legacy host sees it. */
    readonly dir: string,
    readonly sizeMiB: number,
  ) {}

  /** The disk's own image, inside the root. */
  get image(): string {
    return path.join(this.dir, "vda.qcow2");
  }

  /** `agentChannel`: a guest-agent channel with no agent behind it (no guest OS answers). */
  static async create(sizeMiB = 64, { agentChannel = false } = {}): Promise<LegacyDomain> {
    const id = randomBytes(4).toString("hex");
    const vm = new LegacyDomain(
      `vslg-${process.pid}-${id}`,
      `/var/lib/libvirt/images/vslg-${id}`,
      sizeMiB,
    );
    try {
      await fs.mkdir(host(vm.dir), { recursive: true });
      await mustInRoot(BULLSEYE, "qemu-img", [
        "create",
        "-q",
        "-f",
        "qcow2",
        vm.image,
        `${sizeMiB}M`,
      ]);
      const xml = `<domain type='qemu'><name>${vm.name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
        <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>
        <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${vm.image}'/>
        <target dev='vda' bus='virtio'/></disk>${agentChannel ? AGENT_CHANNEL : ""}</devices></domain>`;
      await fs.writeFile(host(path.join(vm.dir, "domain.xml")), xml);
      await mustInRoot(BULLSEYE, "virsh", ["define", "--file", path.join(vm.dir, "domain.xml")]);
      await mustInRoot(BULLSEYE, "virsh", ["start", "--domain", vm.name]);
    } catch (error) {
      await vm.destroy();
      throw error;
    }
    return vm;
  }

  /** Writes as the guest would, through HMP qemu-io (works on QEMU 5.2). */
  async write(pattern: number, offsetMiB: number, lengthMiB: number): Promise<void> {
    const io = `write -P 0x${pattern.toString(16)} ${offsetMiB * MiB} ${lengthMiB * MiB}`;
    const hmp = `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "${io}"`;
    const out = await mustInRoot(BULLSEYE, "virsh", [
      "qemu-monitor-command",
      "--hmp",
      "--domain",
      this.name,
      hmp,
    ]);
    if (out.trim() !== "") throw new Error(`qemu-io via HMP said: ${out}`);
    this.writes.push(io);
  }

  mark(): number {
    return this.writes.length;
  }

  /** A fresh image (a host path) with exactly the first `mark` writes. */
  async expectedImage(into: string, mark = this.writes.length): Promise<string> {
    const file = path.join(into, `expected-${mark}.qcow2`);
    await must("qemu-img", ["create", "-q", "-f", "qcow2", file, `${this.sizeMiB}M`]);
    const cmds = this.writes.slice(0, mark).flatMap((w) => ["-c", w]);
    if (cmds.length > 0) await must("qemu-io", ["-f", "qcow2", file, ...cmds]);
    return file;
  }

  /** The file the legacy libvirt points vda at now. */
  async source(): Promise<string> {
    const out = await mustInRoot(BULLSEYE, "virsh", ["domblklist", "--domain", this.name]);
    const line = out.split("\n").find((l) => /^\s*vda\s/.test(l));
    return line?.trim().split(/\s+/)[1] ?? "";
  }

  /** Always safe to call: ends QEMU, removes the definition and the files. */
  async destroy(): Promise<void> {
    await inRoot(BULLSEYE, "virsh", ["destroy", "--domain", this.name]);
    await inRoot(BULLSEYE, "virsh", ["undefine", "--domain", this.name, "--snapshots-metadata"]);
    await fs.rm(host(this.dir), { recursive: true, force: true });
    const left = await inRoot(BULLSEYE, "virsh", ["dominfo", "--domain", this.name]);
    if (left.exitCode === 0) throw new Error(`legacy domain ${this.name} is still defined`);
  }
}

/** A path inside the legacy root, as this machine sees it. */
export function host(inside: string): string {
  return path.join(BULLSEYE, inside);
}
