/**
 * A runner that answers from a script instead of starting virsh or qemu-img, and records every
 * command it was asked to run, in order: orchestration tests assert that sequence (above all, that
 * the clean-up still runs after a failed copy or a Ctrl-C). Files stay real (tmp dirs): an answer
 * may write the file its command would have written.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "../../src/context.js";
import { CommandError, OperationError } from "../../src/errors.js";
import type { Cmd, Run, RunOptions } from "../../src/exec.js";
import { virsh } from "../../src/libvirt/virsh.js";
import { silentLog } from "../../src/log.js";
import { NO_PROGRESS } from "../../src/progress.js";

export interface Answer {
  stdout?: string;
  /** The command fails with this stderr (a CommandError, as the real runner throws). */
  fail?: string;
  /** Runs before the answer is given: writes the command's output file, aborts the run, ... */
  effect?: (args: string[], options: RunOptions) => void | Promise<void>;
}

/** First match wins; a pattern is tested against the command line without virsh's `-c URI`. */
export type Script = [RegExp, Answer | ((line: string, args: string[]) => Answer)][];

export class ScriptedRun {
  /** Every command asked for, as `virsh blockcommit --domain ...` / `qemu-img convert ...`. */
  readonly calls: string[] = [];
  constructor(private script: Script) {}

  /** Puts `more` in front of the script (a later answer for a command already scripted). */
  prepend(more: Script): void {
    this.script = [...more, ...this.script];
  }

  run: Run = async (cmd: Cmd, options: RunOptions = {}) => {
    // As the real runner: a copy given the run's signal does not start after Ctrl-C.
    options.signal?.throwIfAborted();
    const args = cmd.file === "virsh" && cmd.args[0] === "-c" ? cmd.args.slice(2) : cmd.args;
    const line = [cmd.file, ...args].join(" ");
    this.calls.push(line);
    const entry = this.script.find(([pattern]) => pattern.test(line));
    if (!entry) throw new Error(`scripted runner: nothing scripted for: ${line}`);
    const answer = typeof entry[1] === "function" ? entry[1](line, args) : entry[1];
    await answer.effect?.(args, options);
    if (options.signal?.aborted) throw new OperationError(`interrupted while running ${cmd.file}`);
    if (answer.fail !== undefined)
      throw new CommandError(`${cmd.file}: ${answer.fail}`, cmd.file, answer.fail, 1);
    return { stdout: answer.stdout ?? "", stderr: "" };
  };

  /** The calls as program and subcommand ("virsh blockcommit"): a sequence without tmp paths. */
  words(): string[] {
    return this.calls.map((c) => c.split(" ").slice(0, 2).join(" "));
  }

  /** The calls that match `pattern`, in order. */
  matching(pattern: RegExp): string[] {
    return this.calls.filter((c) => pattern.test(c));
  }
}

/** A context around the scripted runner; `abort` stands for Ctrl-C. */
export function scriptedContext(run: ScriptedRun, lockDir: string) {
  const abort = new AbortController();
  const ctx: Context = {
    run: run.run,
    log: silentLog(),
    virsh: virsh("test:///scripted"),
    uri: "test:///scripted",
    lockDir,
    now: () => new Date(),
    env: {},
    signal: abort.signal,
    progress: NO_PROGRESS,
  };
  return { ctx, abort };
}

export async function scratchDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A one-disk domain's XML, its disk on `source` (qcow2). */
export function domainXml(name: string, source: string): string {
  return `<domain type='kvm'><name>${name}</name><uuid>6d0c4a52-3f1e-4a5e-9a53-2b6f4f1c0a11</uuid>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${source}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`;
}

/** `qemu-img info --backing-chain --output=json` for the chain `files`, top first. */
export function chainJson(files: string[]): string {
  return JSON.stringify(
    files.map((file, i) => ({
      filename: file,
      format: "qcow2",
      "virtual-size": 1048576,
      "actual-size": 4096,
      ...(files[i + 1] ? { "full-backing-filename": files[i + 1] } : {}),
      "format-specific": { type: "qcow2", data: { compat: "1.1" } },
    })),
  );
}

/** An answer that writes the command's last argument (the file qemu-img would write). */
export function writesLastArg(content = "qcow2 data"): Answer {
  return { effect: (args) => fs.writeFile(args.at(-1) as string, content) };
}
