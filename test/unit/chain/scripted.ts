import type { Domain, Layer } from "../../../src/types.js";
import { chainJson, ScriptedRun, scriptedContext } from "../../lab/scripted-run.js";

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
 * The scripted runner of test/lab/scripted-run.ts, answering `qemu-img info --backing-chain F`
 * with the chain `chains` gives for F (top first), dumpxml with a small domain, anything else with
 * nothing (a finished block job, a define that worked).
 */
export function scripted(chains: Record<string, string[]> = {}) {
  const runner = new ScriptedRun([
    [
      /^qemu-img info .*--backing-chain/,
      (_line, args) => {
        const top = args.at(-1) ?? "";
        const files = chains[top];
        if (!files) throw new Error(`no chain scripted for ${top}`);
        return { stdout: chainJson(files) };
      },
    ],
    [/^virsh dumpxml/, { stdout: DOMAIN_XML }],
    [/./, {}],
  ]);
  const { ctx } = scriptedContext(runner, "/nonexistent/locks");
  const reads = () => runner.matching(/^qemu-img info/).length;
  return { ctx, calls: runner.calls, reads };
}
