import { type Command, Option } from "commander";
import { type BackupOptions, type BackupReport, backup } from "../../commands/backup.js";
import { parseDeviceList } from "../../libvirt/disk-selection.js";
import { backupDirOption, optionalBackupDir, positiveInt } from "../options.js";
import { quiesceOption } from "../quiesce-option.js";
import { renderBackup } from "../render.js";
import { type Opts, wire } from "../wiring.js";

function define(cmd: Command): Command {
  return cmd
    .description("take a restore point of one or more domains")
    .argument("[domain...]", "domains to back up")
    .addOption(backupDirOption())
    .option("--all", "every defined domain")
    .option("--all-running", "every running domain")
    .addOption(
      new Option("--mode <mode>", "capture mode")
        .choices(["auto", "snapshot", "cbt"])
        .default("auto"),
    )
    .addOption(
      new Option("--level <level>", "backup level")
        .choices(["auto", "full", "inc", "diff", "copy"])
        .default("auto"),
    )
    .addOption(quiesceOption())
    .option("--include <devs>", "only these disks (comma-separated targets, e.g. vda,vdb)")
    .option("--exclude <devs>", "skip these disks")
    .option(
      "--include-raw",
      "no effect: raw and block disks are always backed up (kept for old cron lines)",
    )
    .option("--full-every <n>", "start a new chain after N points", positiveInt)
    .option("--compress", "qcow2-compress new point files (zstd where QEMU has it)")
    .option(
      "--bandwidth <MiB/s>",
      "limit copies and block jobs (not cbt's backup job)",
      positiveInt,
    )
    .option("--parallel <n>", "back up this many domains at once", positiveInt, 1)
    .option("--memory-state", "snapshot mode: save the running domain's RAM with the point")
    .option("--metrics-file <path>", "write Prometheus textfile metrics (node_exporter)")
    .option(
      "--warnings-exit <n>",
      "exit with N when the run succeeded with warnings (e.g. a crash-consistent point)",
      positiveInt,
    )
    .option(
      "--notify-url <url>",
      "ping URL/start, URL, URL/fail (healthchecks.io style); repeatable",
      (url: string, previous: string[] = []) => [...previous, url],
    )
    .addOption(
      new Option("--notify-on <when>", "which pings to send")
        .choices(["always", "failure"])
        .default("always"),
    )
    .option("--dry-run", "print what would be done, change nothing");
}

export function backupInput([domains]: unknown[], o: Opts, env: NodeJS.ProcessEnv): BackupOptions {
  return {
    domains: domains as string[],
    all: Boolean(o.all),
    allRunning: Boolean(o.allRunning),
    // backup checks it itself, so that a run without one still reaches the metrics file.
    backupDir: optionalBackupDir(o.backupDir, env) ?? "",
    mode: o.mode as BackupOptions["mode"],
    level: o.level as BackupOptions["level"],
    quiesce: o.quiesce as BackupOptions["quiesce"],
    filter: {
      include: parseDeviceList(o.include as string | undefined),
      exclude: parseDeviceList(o.exclude as string | undefined) ?? [],
    },
    dryRun: Boolean(o.dryRun),
    fullEvery: o.fullEvery as number | undefined,
    compress: Boolean(o.compress),
    bandwidthMiB: o.bandwidth as number | undefined,
    parallel: o.parallel as number,
    metricsFile: o.metricsFile as string | undefined,
    warningsExit: o.warningsExit as number | undefined,
    memoryState: Boolean(o.memoryState),
    notifyUrls: (o.notifyUrl as string[] | undefined) ?? [],
    notifyOn: o.notifyOn as BackupOptions["notifyOn"],
  };
}

export const backupWiring = wire({
  name: "backup",
  define,
  input: backupInput,
  run: backup,
  output: (report: BackupReport) => ({
    data: report,
    text: renderBackup(report),
    exitCode: report.exitCode,
  }),
});
