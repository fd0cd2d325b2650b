import type { Command } from "commander";
import { type InfoReport, info } from "../../commands/info.js";
import { backupDirOption, domainAndOptionalDir } from "../options.js";
import { renderInfo } from "../render.js";
import { wire } from "../wiring.js";

/** Without a backup directory info has no last backup to tell. */
export const infoWiring = wire({
  name: "info",
  define: (cmd: Command) =>
    cmd
      .description("capabilities, live chain, last backup")
      .argument("<domain>")
      .addOption(backupDirOption()),
  input: domainAndOptionalDir,
  run: info,
  output: (report: InfoReport) => ({ data: report, text: renderInfo(report) }),
});
