import fs from "node:fs/promises";
import { execa } from "execa";
import { CommandError, OperationError } from "./errors.js";
import type { Log } from "./log.js";

/** A program to run, as plain data: builders in src/libvirt and src/qemu return these. */
export interface Cmd {
  file: string;
  args: string[];
  /** Whether running it changes a domain, an image or the repository. */
  mutates: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Copies pass the run's abort signal; clean-up steps do not, so they still run after Ctrl-C. */
  signal?: AbortSignal | undefined;
  /** Sees the program's stdout as it comes (qemu-img -p progress). */
  onOutput?: ((text: string) => void) | undefined;
  /**
   * Stderr goes to this file instead of a pipe: for a program that forks a server which outlives
   * it (guestfish --listen) and keeps its stderr, so a pipe would never close.
   */
  stderrFile?: string | undefined;
  /** Where the command's debug line goes instead of the runner's log (a domain's run log). */
  log?: Log | undefined;
}

export type Run = (cmd: Cmd, options?: RunOptions) => Promise<RunResult>;

/** Shell-like rendering for logs and error messages only; nothing is ever run through a shell. */
export function showCmd(cmd: Cmd): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
  return [cmd.file, ...cmd.args].map(quote).join(" ");
}

/** The one place virtsnap starts programs: argument arrays, C locale, debug log, stderr in errors. */
export function createRunner(log: Log): Run {
  return async (cmd, options = {}) => {
    options.signal?.throwIfAborted();
    (options.log ?? log).debug(`${cmd.mutates ? "!" : "$"} ${showCmd(cmd)}`);
    // A plain descriptor: execa would relay {file} through a pipe of its own, which the server holds.
    const errFile = options.stderrFile ? await fs.open(options.stderrFile, "a") : undefined;
    const child = execa(cmd.file, cmd.args, {
      ...(options.signal ? { cancelSignal: options.signal } : {}),
      // A process group of its own: a terminal's Ctrl-C goes to the whole foreground group, and
      // `virsh blockcommit --wait` aborts its job on SIGINT. virtsnap decides what stops (copies,
      // through the signal above); the clean-up's commands run to their end.
      detached: true,
      reject: false,
      stdin: "ignore",
      // execa's types take a descriptor number but not a number-or-"pipe" union.
      stderr: (errFile?.fd ?? "pipe") as "pipe",
      env: { LC_ALL: "C" },
      maxBuffer: 256 * 1024 * 1024,
    });
    const { onOutput } = options;
    if (onOutput) child.stdout?.on("data", (chunk: Buffer) => onOutput(chunk.toString()));
    const result = await child.finally(() => errFile?.close());
    if (result.isCanceled) throw new OperationError(`interrupted while running ${cmd.file}`);
    const stderr = typeof result.stderr === "string" ? result.stderr : "";
    if (result.failed) throw toCommandError(cmd, { ...result, stderr });
    return { stdout: result.stdout, stderr };
  };
}

interface Failure {
  code?: string | undefined;
  exitCode?: number | undefined;
  signal?: string | undefined;
  stderr: string;
  originalMessage?: string | undefined;
}

function toCommandError(cmd: Cmd, result: Failure): CommandError {
  if (result.code === "ENOENT") {
    return new CommandError(
      `${cmd.file} is not installed (or not on PATH)`,
      cmd.file,
      "",
      undefined,
    );
  }
  const stderr = result.stderr.trim();
  const reason =
    firstErrorLine(stderr, cmd.file) ??
    (result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode}`);
  return new CommandError(
    `${cmd.file} ${subcommand(cmd.args)}: ${reason}`,
    cmd.file,
    stderr,
    result.exitCode,
  );
}

/** The first word that is not an option: `virsh -c URI backup-begin ...` -> backup-begin. */
function subcommand(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-c") i++;
    else if (!args[i]?.startsWith("-")) return args[i] ?? "";
  }
  return "";
}

/**
 * The reason to show from a program's stderr. virsh prints "error: ..." lines, the most specific
 * last. qemu-img prints "qemu-img: <reason>" first and often a generic hint after it ("Try
 * 'qemu-img --help' for more information"), so without an "error:" line the program's own first
 * line wins over the last line.
 */
export function firstErrorLine(stderr: string, program: string): string | undefined {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const errors = lines.filter((l) => /^error:/i.test(l));
  if (errors.length > 0) return errors.at(-1)?.replace(/^error:\s*/i, "");
  const name = program.split("/").at(-1) ?? program;
  const own = lines.find((l) => l.startsWith(`${name}:`) && !/--help/.test(l));
  return own ?? lines.at(-1);
}

/**
 * --dry-run in the runner: a command that changes a domain, an image or the repository is printed
 * ("would run: ..."), not run; a read-only one runs, since its answers steer the plan.
 */
export function dryRunner(run: Run, log: Log): Run {
  return async (cmd, options) => {
    if (!cmd.mutates) return run(cmd, options);
    log.info(`would run: ${showCmd(cmd)}`);
    return { stdout: "", stderr: "" };
  };
}
