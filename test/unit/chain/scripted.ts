import type { Context } from "../../../src/context.js";
import { type Cmd, showCmd } from "../../../src/exec.js";
import { virsh } from "../../../src/libvirt/virsh.js";
import { silentLog } from "../../../src/log.js";
import { NO_PROGRESS } from "../../../src/progress.js";
import type { Domain, Layer } from "../../../src/types.js";

export const DOMAIN_XML = `<domain type='qemu'><name>vm</name><devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='/img/vda.qcow2'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>`;

export function layer(file: string, backing?: string): Layer {
  return { file, format: "qcow2", virtualSize: 1 << 26, actualSize: 0, backing, compat: "1.1" };
}

/** Files top first, each backed by the next. */
export function layers(...files: string[]): Layer[] {
  return files.map((file, i) => layer(file, files[i + 1]));
}

export function domain(active: boolean): Domain {
  return { name: "vm", active, disks: [] } as unknown as Domain;
}

/**
 * A context whose runner records every command and answers from a script: `qemu-img info
 * --backing-chain F` with the chain `chains` gives for F (top first), dumpxml with a small domain,
 * anything else with nothing (a finished block job, a define that worked).
 */
export function scripted(chains: Record<string, string[]> = {}) {
  const calls: string[] = [];
  const run = async (cmd: Cmd) => {
    calls.push(showCmd(cmd));
    if (cmd.file === "qemu-img" && cmd.args.includes("--backing-chain")) {
      const top = cmd.args.at(-1) ?? "";
      const files = chains[top];
      if (!files) throw new Error(`no chain scripted for ${top}`);
      const json = layers(...files).map((l) => ({
        filename: l.file,
        format: l.format,
        "virtual-size": l.virtualSize,
        ...(l.backing ? { "full-backing-filename": l.backing } : {}),
      }));
      return { stdout: JSON.stringify(json), stderr: "" };
    }
    if (cmd.args.includes("dumpxml")) return { stdout: DOMAIN_XML, stderr: "" };
    return { stdout: "", stderr: "" };
  };
  const ctx = {
    run,
    log: silentLog(),
    virsh: virsh("qemu:///system"),
    progress: NO_PROGRESS,
    signal: new AbortController().signal,
  } as unknown as Context;
  const reads = () => calls.filter((c) => c.startsWith("qemu-img info")).length;
  return { ctx, calls, reads };
}
