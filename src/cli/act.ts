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
    try {
      // Commander passes the arguments, then the options, then the command.
      const input = wiring.input(
        args.slice(0, -2),
        args.at(-2) as Record<string, unknown>,
        ctx.env,
      );
      print(wiring.output(await wiring.run(ctx, input), input), global);
    } catch (error) {
      const command = (args.at(-1) as Command).name();
      reportError(ctx.log, error, { json: Boolean(global.json), command, uri: ctx.uri });
    } finally {
      session.close();
      const stoppedBy = session.stoppedBy();
      if (stoppedBy) process.exitCode = signalExitCode(stoppedBy);
    }
  };
}

/** As a shell reports a program killed by the signal (128 + its number), after the clean-up. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 0);
}

function print(output: Output, global: GlobalOptions): void {
  if (global.json) printJson(output.data);
  else if (output.text !== null && !global.quiet) process.stdout.write(`${output.text}\n`);
  process.exitCode = output.exitCode ?? EXIT.ok;
}

function reportError(
  log: Log,
  error: unknown,
  { json, command, uri }: { json: boolean; command: string; uri: string },
): void {
  const why = explain(error, { uri, uid: process.getuid?.() });
  if (why.bug)
    log.error(
      `internal error (a bug in virtsnap): ${error instanceof Error ? error.stack : why.message}`,
    );
  else log.error(why.message);
  // Node's own I/O errors are told in one line; with -v their stack too, for a bug report.
  if (!why.bug && !isExpected(error) && error instanceof Error) log.debug(`${error.stack}`);
  if (json) printJson(errorDocument(command, why.message, why.exitCode));
  process.exitCode = why.exitCode;
}

export function printJson(data: unknown): void {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
}
