import type { Command } from "commander";
import { type RotateOptions, type RotateReport, rotate } from "../../commands/rotate.js";
import { backupDir, backupDirOption, metricsOption, positiveInt } from "../options.js";
import { renderRotate } from "../render.js";
import { type RepoChange, refreshingFigures } from "../repo-change.js";
import { type Opts, wire } from "../wiring.js";

type RotateInput = RotateOptions & RepoChange;

export function rotateInput([domain]: unknown[], o: Opts, env: NodeJS.ProcessEnv): RotateInput {
  return {
    domain: domain as string,
    backupDir: backupDir(o.backupDir, env),
    keepChains: o.keepChains as number,
    dryRun: Boolean(o.dryRun),
    metricsFile: o.metricsFile as string | undefined,
  };
}

export const rotateWiring = wire({
  name: "rotate",
  define: (cmd: Command) =>
    cmd
      .description("delete whole chains, oldest first")
      .argument("<domain>")
      .addOption(backupDirOption())
      .requiredOption(
        "--keep-chains <n>",
        "how many of the newest chains to keep (>= 1)",
        positiveInt,
      )
      .option("--dry-run", "print what would be removed, change nothing")
      .addOption(metricsOption()),
  input: rotateInput,
  run: (ctx, input: RotateInput) => refreshingFigures(ctx, input, rotate(ctx, input)),
  output: (report: RotateReport) => ({ data: report, text: renderRotate(report) }),
});
