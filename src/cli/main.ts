import { CommanderError } from "commander";
import { EXIT } from "../errors.js";
import { printJson } from "./act.js";
import { commandOf, errorDocument, wantsJson } from "./error-document.js";
import { buildProgram } from "./program.js";
import { normalizeQuiesce } from "./quiesce-option.js";

/** Parses the command line and runs the command; every expected error becomes an exit code. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  const args = normalizeQuiesce(argv);
  const commandNames = program.commands.map((c) => c.name());
  try {
    await program.parseAsync(args);
  } catch (error) {
    // Commander's own errors (unknown option, missing argument) are usage errors; help/version are not.
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      if (error.exitCode !== 0 && wantsJson(args))
        printJson(
          errorDocument(commandOf(commandNames, args.slice(2)), oneLine(error), EXIT.usage),
        );
      return;
    }
    throw error;
  }
}

/** Commander's message without its "error: " tag, first line only. */
export function oneLine(error: CommanderError): string {
  return (error.message.split("\n")[0] ?? "").replace(/^error:\s*/, "");
}
