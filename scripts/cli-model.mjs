// The command line as plain data, read from the same commander program that prints --help
// (buildProgram in src/cli/program.ts, from tsc's dist/), so the man page and the bash completion that
// scripts/man.mjs and scripts/completion.mjs write from it stay in step with --help.
import fs from "node:fs";
import { buildProgram } from "../dist/src/cli/program.js";

export const packageJson = JSON.parse(
  fs.readFileSync(new URL("../package.json", import.meta.url), "utf8"),
);

/**
 * @typedef {{ term: string, flags: string[], value: "none" | "required" | "optional",
 *   placeholder: string, choices: string[], description: string }} OptionModel
 * @typedef {{ term: string, required: boolean, description: string }} ArgumentModel
 * @typedef {{ path: string[], usage: string, description: string, arguments: ArgumentModel[],
 *   options: OptionModel[], commands: CommandModel[] }} CommandModel
 */

/** @returns {CommandModel} the whole program; the root's path is []. */
export function cliModel() {
  const program = buildProgram();
  return describe(program, []);
}

function describe(cmd, path) {
  const help = cmd.createHelp();
  return {
    path,
    usage: help.commandUsage(cmd).replace(/^virtsnap ?/, ""),
    description: help.commandDescription(cmd),
    // All of them: commander's help lists arguments only when one has a description.
    arguments: cmd.registeredArguments.map((a) => ({
      term: help.argumentTerm(a),
      required: a.required,
      description: a.description,
    })),
    options: help.visibleOptions(cmd).map((o) => ({
      term: help.optionTerm(o),
      flags: [o.short, o.long].filter(Boolean),
      value: o.required ? "required" : o.optional ? "optional" : "none",
      placeholder: (o.flags.match(/[<[]([^>\]]+)[>\]]/) ?? [])[1] ?? "",
      choices: o.argChoices ?? [],
      description: help.optionDescription(o),
    })),
    // commander's implicit `help` command is left out: `virtsnap help X` is `X --help`.
    commands: cmd.commands.map((c) => describe(c, [...path, c.name()])),
  };
}

/** Every command below the root, depth first (`debug`, then `debug failpoints`). */
export function allCommands(model) {
  return model.commands.flatMap((c) => [c, ...allCommands(c)]);
}
