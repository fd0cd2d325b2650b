import os from "node:os";
import type { Command } from "commander";
import { EXIT, isExpected } from "../errors.js";
import { explain } from "../failure.js";
import type { Log } from "../log.js";
import { type GlobalOptions, openSession } from "./context.js";
import { errorDocument } from "./error-document.js";
import type { Output, Wiring } from "./wiring.js";

/** Commander's action for one command: its context, its output printed, errors -> exit codes. */
export function act(program: Command, wiring: Wiring<unknown, unknown>) {
  return async (...args: unknown[]) => {
    const global = program.opts<GlobalOptions>();
    const session = openSession(global);
    const { ctx } = session;
    const stopCode = () => {
      const signal = session.stoppedBy();
      return signal ? signalExitCode(signal) : undefined;
    };
    try {
      // Commander passes the arguments, then the options, then the command.
      const input = wiring.input(
        args.slice(0, -2),
        args.at(-2) as Record<string, unknown>,
        ctx.env,
      );
      const output = wiring.output(await wiring.run(ctx, input), input);
      print(output, global, stopCode() ?? output.exitCode ?? EXIT.ok);
    } catch (error) {
      const command = (args.at(-1) as Command).name();
      const json = Boolean(global.json);
      reportError(ctx.log, error, { json, command, uri: ctx.uri, exitCode: stopCode() });
    } finally {
      session.close();
      const code = stopCode();
      if (code !== undefined) process.exitCode = code;
    }
  };
}

/** As a shell reports a program killed by the signal (128 + its number), after the clean-up. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 0);
}

function print(output: Output, global: GlobalOptions, exitCode: number): void {
  if (global.json) printJson(withExitCode(output.data, exitCode));
  else if (output.text !== null && !global.quiet) process.stdout.write(`${output.text}\n`);
  process.exitCode = exitCode;
}

/** A report that carries the run's exit code (backup's) says the one the process exits with. */
export function withExitCode(data: unknown, exitCode: number): unknown {
  if (typeof data !== "object" || data === null || !("exitCode" in data)) return data;
  return { ...data, exitCode, ...("ok" in data ? { ok: exitCode === EXIT.ok } : {}) };
}

function reportError(
  log: Log,
  error: unknown,
  opts: { json: boolean; command: string; uri: string; exitCode: number | undefined },
): void {
  const { json, command, uri } = opts;
  const why = explain(error, { uri, uid: process.getuid?.() });
  if (why.bug)
    log.error(
      `internal error (a bug in virtsnap): ${error instanceof Error ? error.stack : why.message}`,
    );
  else log.error(why.message);
  // Node's own I/O errors are told in one line; with -v their stack too, for a bug report.
  if (!why.bug && !isExpected(error) && error instanceof Error) log.debug(`${error.stack}`);
  const exitCode = opts.exitCode ?? why.exitCode;
  if (json) printJson(errorDocument(command, why.message, exitCode));
  process.exitCode = exitCode;
}

export function printJson(data: unknown): void {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
}
