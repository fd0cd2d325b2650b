import type { Command } from "commander";
import { type RepairReport, repair } from "../../commands/repair.js";
import { backupDirOption, domainAndOptionalDir } from "../options.js";
import { renderRepair } from "../render.js";
import { wire } from "../wiring.js";

/** Without a backup directory repair mends the live chain only. */
export const repairWiring = wire({
  name: "repair",
  define: (cmd: Command) =>
    cmd
      .description("finish or undo what an interrupted run left (idempotent)")
      .argument("<domain>")
      .addOption(backupDirOption()),
  input: domainAndOptionalDir,
  run: repair,
  output: (report: RepairReport) => ({ data: report, text: renderRepair(report) }),
});
