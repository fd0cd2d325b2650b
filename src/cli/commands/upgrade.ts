import type { Command } from "commander";
import { type UpgradeOptions, type UpgradeReport, upgrade } from "../../commands/upgrade.js";
import { backupDir, backupDirOption } from "../options.js";
import { renderUpgrade } from "../render.js";
import { type Opts, wire } from "../wiring.js";

export function upgradeInput([domain]: unknown[], o: Opts, env: NodeJS.ProcessEnv): UpgradeOptions {
  return { domain: domain as string, backupDir: backupDir(o.backupDir, env) };
}

export const upgradeWiring = wire({
  name: "upgrade",
  define: (cmd: Command) =>
    cmd
      .description("upgrade the repository's catalog to the current format, in place")
      .argument("<domain>")
      .addOption(backupDirOption()),
  input: upgradeInput,
  run: upgrade,
  output: (report: UpgradeReport) => ({ data: report, text: renderUpgrade(report) }),
});
