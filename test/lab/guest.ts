/**
 * The real-guest lab: a Debian kernel + busybox initramfs (test/guest/build-guest.sh, cached) that
 * mounts an ext4 disk (vda) on /data and runs qemu-guest-agent. Files are written and read through
 * the agent (guest-exec), so quiesce, restores and file extraction are checked against a real
 * filesystem. Boot to agent-ready is ~6-15 s under TCG.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { IMAGES, must, sh, uniqueName } from "./lab.js";

const BUILD = fileURLToPath(new URL("../../../test/guest/build-guest.sh", import.meta.url));
export const GUEST_CACHE =
  process.env.VIRTSNAP_GUEST_CACHE ?? "/var/lib/libvirt/images/virtsnap-guest-lab";

/** libguestfs picks KVM whenever /dev/kvm opens, which does not work on the lab hosts. */
export const GUESTFS_ENV = {
  LIBGUESTFS_BACKEND: "direct",
  LIBGUESTFS_BACKEND_SETTINGS: "force_tcg",
};

let built: Promise<string> | undefined;

/** Builds (or finds cached) the guest's kernel and initrd once per test process. */
export function buildGuest(): Promise<string> {
  built ??= execBuild();
  return built;
}

async function execBuild(): Promise<string> {
  const r = await sh("env", [`GL_CACHE=${GUEST_CACHE}`, BUILD]);
  if (r.exitCode !== 0) throw new Error(`build-guest.sh failed: ${r.stderr}`);
  return GUEST_CACHE;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

function agent(name: string, request: object, timeout = 10): Promise<string> {
  return must("virsh", [
    "qemu-agent-command",
    "--domain",
    name,
    "--timeout",
    String(timeout),
    JSON.stringify(request),
  ]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class GuestDomain {
  private constructor(
    readonly name: string,
    readonly dir: string,
  ) {}

  get disk(): string {
    return path.join(this.dir, "vda.qcow2");
  }

  /** Defines (and starts, waiting for the agent) a fresh guest with an empty ext4 vda. */
  static async create(options: { name?: string; sizeMiB?: number } = {}): Promise<GuestDomain> {
    const cache = await buildGuest();
    const guest = new GuestDomain(
      options.name ?? uniqueName("vsg"),
      path.join(IMAGES, `vsg-${randomBytes(4).toString("hex")}`),
    );
    try {
      await fs.mkdir(guest.dir, { recursive: true });
      const raw = path.join(guest.dir, "vda.raw");
      await must("truncate", ["-s", `${options.sizeMiB ?? 64}M`, raw]);
      await must("mkfs.ext4", ["-q", "-F", "-L", "vsg-data", raw]);
      await must("qemu-img", ["convert", "-q", "-f", "raw", "-O", "qcow2", raw, guest.disk]);
      await fs.rm(raw);
      const xml = path.join(guest.dir, "domain.xml");
      await fs.writeFile(xml, guest.xml(cache));
      await must("virsh", ["define", "--file", xml]);
      await guest.start();
    } catch (error) {
      await guest.destroy();
      throw error;
    }
    return guest;
  }

  /** An existing domain (a restored copy) seen through the same helpers; destroy() removes only it. */
  static attach(name: string, dir: string): GuestDomain {
    return new GuestDomain(name, dir);
  }

  private xml(cache: string): string {
    return `<domain type='qemu'><name>${this.name}</name>
  <memory unit='MiB'>192</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${cache}/vmlinuz</kernel><initrd>${cache}/initrd.img</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='${this.disk}'/><target dev='vda' bus='virtio'/></disk>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <serial type='file'><source path='${this.dir}/console.log' append='off'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices></domain>`;
  }

  async start(): Promise<void> {
    await must("virsh", ["start", "--domain", this.name]);
    await this.waitForAgent();
  }

  /** Polls guest-ping until the agent answers; returns the seconds waited. */
  async waitForAgent(timeoutS = 180): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      const r = await sh("virsh", [
        "qemu-agent-command",
        "--domain",
        this.name,
        "--timeout",
        "2",
        '{"execute":"guest-ping"}',
      ]);
      if (r.exitCode === 0) return (Date.now() - t0) / 1000;
      if (Date.now() - t0 > timeoutS * 1000)
        throw new Error(`agent of ${this.name} not ready after ${timeoutS}s: ${r.stderr}`);
      await sleep(250);
    }
  }

  /** `/bin/sh -c SCRIPT sh ARGS...` in the guest through guest-exec; stdin goes in as input-data. */
  async exec(script: string, args: string[] = [], stdin?: string): Promise<ExecResult> {
    const start = await agent(this.name, {
      execute: "guest-exec",
      arguments: {
        path: "/bin/sh",
        arg: ["-c", script, "sh", ...args],
        "capture-output": true,
        ...(stdin !== undefined ? { "input-data": Buffer.from(stdin).toString("base64") } : {}),
      },
    });
    const pid = (JSON.parse(start) as { return: { pid: number } }).return.pid;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const out = await agent(this.name, { execute: "guest-exec-status", arguments: { pid } });
      const st = (JSON.parse(out) as { return: ExecStatus }).return;
      if (st.exited) {
        const text = (b?: string) => Buffer.from(b ?? "", "base64").toString();
        return {
          stdout: text(st["out-data"]),
          stderr: text(st["err-data"]),
          exitCode: st.exitcode ?? 128 + (st.signal ?? 0),
        };
      }
      if (Date.now() > deadline) throw new Error(`guest-exec pid ${pid} still running after 60 s`);
      await sleep(100);
    }
  }

  /** Like exec, but a non-zero exit is a broken lab. */
  async run(script: string, args: string[] = [], stdin?: string): Promise<string> {
    const r = await this.exec(script, args, stdin);
    if (r.exitCode !== 0) throw new Error(`guest: ${script} failed (${r.exitCode}): ${r.stderr}`);
    return r.stdout;
  }

  /** Writes CONTENT exactly to /data/PATH (directories made), then sync. */
  async write(file: string, content: string): Promise<void> {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell script, not a template
    await this.run('p="/data/${1#/}"; mkdir -p "${p%/*}" && cat > "$p" && sync', [file], content);
  }

  async read(file: string): Promise<string> {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell script, not a template
    return this.run('cat "/data/${1#/}"', [file]);
  }

  /** The guest's uptime in seconds (/proc/uptime). */
  async uptime(): Promise<number> {
    return Number((await this.run("cut -d' ' -f1 /proc/uptime")).trim());
  }

  /** A clean power-off through the agent: the image is left without needs_recovery. */
  async shutdown(): Promise<void> {
    await must("virsh", ["shutdown", "--mode", "agent", "--domain", this.name]);
    for (let i = 0; i < 120; i++) {
      const st = await sh("virsh", ["domstate", "--domain", this.name]);
      if (st.stdout.trim() === "shut off") return;
      await sleep(500);
    }
    throw new Error(`${this.name} did not power off`);
  }

  /** Always safe to call: ends QEMU, removes the definition and the domain's folder. */
  async destroy(): Promise<void> {
    await sh("virsh", ["destroy", "--domain", this.name]);
    await sh("virsh", [
      "undefine",
      "--domain",
      this.name,
      "--checkpoints-metadata",
      "--snapshots-metadata",
    ]);
    await fs.rm(this.dir, { recursive: true, force: true });
    const left = await sh("virsh", ["dominfo", "--domain", this.name]);
    if (left.exitCode === 0) throw new Error(`guest domain ${this.name} is still defined`);
  }
}

interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  "out-data"?: string;
  "err-data"?: string;
}

/** A raw copy of a qcow2 image, for e2fsck/dumpe2fs/debugfs on the host. */
export async function rawCopy(qcow2: string, raw: string): Promise<string> {
  await must("qemu-img", ["convert", "-U", "-f", "qcow2", "-O", "raw", qcow2, raw]);
  return raw;
}

/** e2fsck -fn's exit code and whether the superblock says the journal needs replay. */
export async function fsState(raw: string): Promise<{ fsck: number; needsRecovery: boolean }> {
  const fsck = await sh("e2fsck", ["-fn", raw]);
  const header = await must("dumpe2fs", ["-h", raw]);
  return { fsck: fsck.exitCode, needsRecovery: /needs_recovery/.test(header) };
}

/** Regular files below / of an ext image with their contents (debugfs, no mount). */
export async function filesIn(raw: string, dir = "/"): Promise<Map<string, string>> {
  const ls = await must("debugfs", ["-R", `ls -p ${dir}`, raw]);
  const out = new Map<string, string>();
  for (const line of ls.split("\n")) {
    const f = line.split("/");
    const name = f[5];
    if (!name || name === "." || name === ".." || name === "lost+found") continue;
    if (!(f[2] ?? "").startsWith("10")) continue; // regular files only (mode 10xxxx)
    const file = `${dir.replace(/\/$/, "")}/${name}`;
    out.set(file, await must("debugfs", ["-R", `cat ${file}`, raw]));
  }
  return out;
}
