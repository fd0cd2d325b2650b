import type { Command } from "commander";
import type { Context } from "../context.js";

/** What a command hands back: data for --json, text for people (null: nothing to print). */
export interface Output {
  data: unknown;
  text: string | null;
  exitCode?: number;
}

/** Commander's parsed options of one command, before they are typed. */
export type Opts = Record<string, unknown>;

/**
 * One command of the command line, in four parts: its words (define), options -> the command's
 * input (input, pure: the environment is passed in), the command itself (run), and its report (with
 * the input) -> what is printed and the exit code (output, pure). Only `run` touches the outside world.
 */
export interface Wiring<I, R> {
  name: string;
  define(cmd: Command): Command;
  input(args: unknown[], opts: Opts, env: NodeJS.ProcessEnv): I;
  run(ctx: Context, input: I): Promise<R>;
  output(report: R, input: I): Output;
}

/** Lets TypeScript infer I and R from the object, and keeps a table of wirings of mixed types. */
export function wire<I, R>(wiring: Wiring<I, R>): Wiring<unknown, unknown> {
  return wiring as Wiring<unknown, unknown>;
}
