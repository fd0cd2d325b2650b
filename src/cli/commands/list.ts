import type { Command } from "commander";
import { type DomainPoints, type ListOptions, list } from "../../commands/list.js";
import { backupDir, backupDirOption } from "../options.js";
import { renderList } from "../render.js";
import { type Opts, wire } from "../wiring.js";

export function listInput([domain]: unknown[], o: Opts, env: NodeJS.ProcessEnv): ListOptions {
  return { domain: domain as string | undefined, backupDir: backupDir(o.backupDir, env) };
}

/** `list DOMAIN` prints that domain's entry, `list` all of them under `domains`. */
export function listOutput(result: DomainPoints[], input: ListOptions) {
  const data = input.domain !== undefined ? result[0] : { domains: result };
  return { data, text: renderList(result) };
}

export const listWiring = wire({
  name: "list",
  define: (cmd: Command) =>
    cmd
      .description("restore points, chains and sizes")
      .argument("[domain]")
      .addOption(backupDirOption()),
  input: listInput,
  run: list,
  output: listOutput,
});
