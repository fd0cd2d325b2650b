import type { Command } from "commander";
import { type InfoOptions, type InfoReport, info } from "../../commands/info.js";
import { backupDirOption, optionalBackupDir } from "../options.js";
import { renderInfo } from "../render.js";
import { type Opts, wire } from "../wiring.js";

/** info works without a backup directory too: it then has no last backup to tell. */
export function infoInput([domain]: unknown[], o: Opts, env: NodeJS.ProcessEnv): InfoOptions {
  return { domain: domain as string, backupDir: optionalBackupDir(o.backupDir, env) };
}

export const infoWiring = wire({
  name: "info",
  define: (cmd: Command) =>
    cmd
      .description("capabilities, live chain, last backup")
      .argument("<domain>")
      .addOption(backupDirOption()),
  input: infoInput,
  run: info,
  output: (report: InfoReport) => ({ data: report, text: renderInfo(report) }),
});
