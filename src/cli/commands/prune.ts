import { type Command, Option } from "commander";
import { type PruneOptions, type PruneReport, prune } from "../../commands/prune.js";
import { backupDir, backupDirOption, metricsOption, positiveInt } from "../options.js";
import { renderPrune } from "../render.js";
import { type RepoChange, refreshingFigures } from "../repo-change.js";
import { type Opts, wire } from "../wiring.js";

type PruneInput = PruneOptions & RepoChange;

const keepOption = (rule: string, what: string) =>
  new Option(`--keep-${rule} <n>`, what).argParser(positiveInt).default(0);

function define(cmd: Command): Command {
  return cmd
    .description("keep points by a restic-like policy, merge the others into their dependents")
    .argument("<domain>")
    .addOption(backupDirOption())
    .addOption(keepOption("last", "the newest N points"))
    .addOption(keepOption("hourly", "the newest point of each of the last N hours with points"))
    .addOption(keepOption("daily", "the newest point of each of the last N days with points"))
    .addOption(keepOption("weekly", "the newest point of each of the last N ISO weeks"))
    .addOption(keepOption("monthly", "the newest point of each of the last N months"))
    .option("--dry-run", "print what would be kept, merged and removed, change nothing")
    .addOption(metricsOption());
}

export function pruneInput([domain]: unknown[], o: Opts, env: NodeJS.ProcessEnv): PruneInput {
  return {
    domain: domain as string,
    backupDir: backupDir(o.backupDir, env),
    policy: {
      last: o.keepLast as number,
      hourly: o.keepHourly as number,
      daily: o.keepDaily as number,
      weekly: o.keepWeekly as number,
      monthly: o.keepMonthly as number,
    },
    dryRun: Boolean(o.dryRun),
    metricsFile: o.metricsFile as string | undefined,
  };
}

export const pruneWiring = wire({
  name: "prune",
  define,
  input: pruneInput,
  run: (ctx, input: PruneInput) => refreshingFigures(ctx, input, prune(ctx, input)),
  output: (report: PruneReport) => ({ data: report, text: renderPrune(report) }),
});
