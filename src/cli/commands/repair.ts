import type { Command } from "commander";
import { type RepairOptions, type RepairReport, repair } from "../../commands/repair.js";
import { backupDirOption, optionalBackupDir } from "../options.js";
import { renderRepair } from "../render.js";
import { type Opts, wire } from "../wiring.js";

/** repair works without a backup directory too: it then mends the live chain only. */
export function repairInput([domain]: unknown[], o: Opts, env: NodeJS.ProcessEnv): RepairOptions {
  return { domain: domain as string, backupDir: optionalBackupDir(o.backupDir, env) };
}

export const repairWiring = wire({
  name: "repair",
  define: (cmd: Command) =>
    cmd
      .description("finish or undo what an interrupted run left (idempotent)")
      .argument("<domain>")
      .addOption(backupDirOption()),
  input: repairInput,
  run: repair,
  output: (report: RepairReport) => ({ data: report, text: renderRepair(report) }),
});
