import { Command } from "commander";
import { normalizeQuiesce } from "../../../src/cli/quiesce-option.js";
import type { Wiring } from "../../../src/cli/wiring.js";

/**
 * The command input one command line gives, as main() would hand it to the command: the
 * wiring's own options parsed by commander, then its input() with this environment. No process.
 */
export function inputOf(
  wiring: Wiring<unknown, unknown>,
  words: string[],
  env: NodeJS.ProcessEnv = {},
): unknown {
  let seen: unknown[] | undefined;
  const program = new Command("virtsnap").exitOverride();
  wiring.define(program.command(wiring.name).exitOverride()).action((...args: unknown[]) => {
    seen = args;
  });
  program.parse(normalizeQuiesce(["node", "virtsnap", wiring.name, ...words]));
  if (!seen) throw new Error("the action did not run");
  return wiring.input(seen.slice(0, -2), seen.at(-2) as Record<string, unknown>, env);
}
