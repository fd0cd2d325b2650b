import os from "node:os";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { backup } from "./commands/backup.js";
import { consolidate } from "./commands/consolidate.js";
import { extract, renderExtract } from "./commands/extract.js";
import { files, renderFiles } from "./commands/files.js";
import { info } from "./commands/info.js";
import { list } from "./commands/list.js";
import { prune } from "./commands/prune.js";
import { repair } from "./commands/repair.js";
import { refreshFigures } from "./commands/repo-figures.js";
import { restore } from "./commands/restore.js";
import { rotate } from "./commands/rotate.js";
import { verify } from "./commands/verify.js";
import type { Context } from "./context.js";
import { commandOf, errorDocument, wantsJson } from "./error-document.js";
import { EXIT, isExpected, UsageError } from "./errors.js";
import { createRunner } from "./exec.js";
import { explain } from "./failure.js";
import { parseDeviceList } from "./libvirt/disk-selection.js";
import { virsh } from "./libvirt/virsh.js";
import { defaultLockDir } from "./lock.js";
import { createLog, type Level, type Log } from "./log.js";
import { NO_PROGRESS, terminalProgress } from "./progress.js";
import { normalizeQuiesce, quiesceOption } from "./quiesce-option.js";
import * as render from "./render.js";
import { failpointTable } from "./steps.js";
import { versionLine } from "./version.js";

interface RepoChangeOptions {
  backupDir?: string;
  dryRun?: boolean;
  metricsFile?: string;
}

interface GlobalOptions {
  connect?: string;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
}

/** What a command hands back: data for --json, text for people (null: nothing to print). */
interface Output {
  data: unknown;
  text: string | null;
  exitCode?: number;
}

type Action = (ctx: Context, args: unknown[]) => Promise<Output>;

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  const args = normalizeQuiesce(argv);
  const commandNames = program.commands.map((c) => c.name());
  try {
    await program.parseAsync(args);
  } catch (error) {
    // Commander's own errors (unknown option, missing argument) are usage errors; help/version are not.
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      if (error.exitCode !== 0 && wantsJson(args))
        printJson(
          errorDocument(commandOf(commandNames, args.slice(2)), oneLine(error), EXIT.usage),
        );
      return;
    }
    throw error;
  }
}

/** The whole command line as commander objects; scripts/man.mjs and completion.mjs walk it. */
export function buildProgram(): Command {
  const program = new Command("virtsnap")
    .description("Backups of libvirt/KVM domains as plain qcow2 chains")
    .version(versionLine(), "-V, --version", "print the virtsnap and Node versions")
    .option(
      "-c, --connect <uri>",
      "libvirt connection URI (default: $LIBVIRT_DEFAULT_URI or qemu:///system)",
    )
    .option("--json", "print exactly one JSON document on stdout")
    .option("-v, --verbose", "log every command virsh/qemu-img runs (stderr)")
    .option("-q, --quiet", "print warnings and errors only")
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({
      outputError: (message, write) => write(`${message.split("\n")[0] ?? message}\n`),
    });

  const backupDirOption = () =>
    new Option("-b, --backup-dir <dir>", "backup directory (or $VIRTSNAP_BACKUP_DIR)");

  program
    .command("backup")
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
    .option("--dry-run", "print what would be done, change nothing")
    .action(
      act(program, async (ctx, [domains, o]) => {
        const opts = o as Record<string, string | number | boolean | undefined>;
        const report = await backup(ctx, {
          domains: domains as string[],
          all: Boolean(opts.all),
          allRunning: Boolean(opts.allRunning),
          // backup checks it itself, so that a run without one still reaches the metrics file.
          backupDir:
            (opts.backupDir as string | undefined) ?? process.env.VIRTSNAP_BACKUP_DIR ?? "",
          mode: opts.mode as "auto",
          level: opts.level as "auto",
          quiesce: opts.quiesce as "required" | "try" | "off",
          filter: {
            include: parseDeviceList(opts.include as string | undefined),
            exclude: parseDeviceList(opts.exclude as string | undefined) ?? [],
          },
          dryRun: Boolean(opts.dryRun),
          fullEvery: opts.fullEvery as number | undefined,
          compress: Boolean(opts.compress),
          bandwidthMiB: opts.bandwidth as number | undefined,
          parallel: opts.parallel as number,
          metricsFile: opts.metricsFile as string | undefined,
          warningsExit: opts.warningsExit as number | undefined,
          memoryState: Boolean(opts.memoryState),
          notifyUrls: (opts.notifyUrl as unknown as string[] | undefined) ?? [],
          notifyOn: opts.notifyOn as "always" | "failure",
        });
        return { data: report, text: render.renderBackup(report), exitCode: report.exitCode };
      }),
    );

  program
    .command("list")
    .description("restore points, chains and sizes")
    .argument("[domain]")
    .addOption(backupDirOption())
    .action(
      act(program, async (ctx, [domain, o]) => {
        const opts = o as { backupDir?: string };
        const name = domain as string | undefined;
        const result = await list(ctx.log, { domain: name, backupDir: backupDir(opts.backupDir) });
        const data = name !== undefined ? result[0] : { domains: result };
        return { data, text: render.renderList(result) };
      }),
    );

  program
    .command("restore")
    .description("write a point's disks as standalone images plus the domain XML")
    .argument("<domain>")
    .addOption(backupDirOption())
    .option("--point <id>", "point id, or latest", "latest")
    .requiredOption("--to <dir>", "folder to write the restored disks and XML into")
    .addOption(
      new Option("--format <format>", "image format").choices(["qcow2", "raw"]).default("qcow2"),
    )
    .option("--disk <devs>", "only these disks (comma-separated targets)")
    .option("--define <name>", "define the restored domain under this new name")
    .option(
      "--instant [name]",
      "define and start it at once on overlays over the repository (name here or via --define)",
    )
    .action(
      act(program, async (ctx, [domain, o]) => {
        const opts = o as Record<string, string | undefined>;
        const report = await restore(ctx, {
          domain: domain as string,
          backupDir: backupDir(opts.backupDir),
          point: opts.point ?? "latest",
          to: opts.to as string,
          format: opts.format as "qcow2",
          disks: parseDeviceList(opts.disk),
          ...instantOptions(opts.define, opts.instant as string | boolean | undefined),
        });
        return { data: report, text: render.renderRestore(report) };
      }),
    );

  program
    .command("files")
    .description("list a directory of a point's filesystem (read-only, through libguestfs)")
    .argument("<domain>")
    .argument("[path]", "/dir, or FILESYSTEM:/dir as libguestfs names it (/dev/sda1:/etc)", "/")
    .addOption(backupDirOption())
    .option("--point <id>", "point id, or latest", "latest")
    .option("--disk <dev>", "look for the filesystem on this disk only")
    .action(
      act(program, async (ctx, [domain, file, o]) => {
        const opts = o as { backupDir?: string; point: string; disk?: string };
        const report = await files(ctx, {
          domain: domain as string,
          backupDir: backupDir(opts.backupDir),
          point: opts.point,
          disk: opts.disk,
          path: file as string,
        });
        return { data: report, text: renderFiles(report) };
      }),
    );

  program
    .command("extract")
    .description("copy files or directories out of a point, owners, modes and times kept")
    .argument("<domain>")
    .argument("<path...>", "/path, or FILESYSTEM:/path as libguestfs names it")
    .addOption(backupDirOption())
    .requiredOption("--point <id>", "point id, or latest")
    .requiredOption("--to <dir>", "folder to copy them into")
    .option("--disk <dev>", "look for the filesystem on this disk only")
    .action(
      act(program, async (ctx, [domain, paths, o]) => {
        const opts = o as { backupDir?: string; point: string; to: string; disk?: string };
        const report = await extract(ctx, {
          domain: domain as string,
          backupDir: backupDir(opts.backupDir),
          point: opts.point,
          disk: opts.disk,
          paths: paths as string[],
          to: opts.to,
        });
        return { data: report, text: renderExtract(report) };
      }),
    );

  program
    .command("rotate")
    .description("delete whole chains, oldest first")
    .argument("<domain>")
    .addOption(backupDirOption())
    .requiredOption(
      "--keep-chains <n>",
      "how many of the newest chains to keep (>= 1)",
      positiveInt,
    )
    .option("--dry-run", "print what would be removed, change nothing")
    .addOption(metricsOption())
    .action(
      act(program, async (ctx, [domain, o]) => {
        const opts = o as RepoChangeOptions & { keepChains: number };
        const report = await rotate(ctx, {
          domain: domain as string,
          backupDir: backupDir(opts.backupDir),
          keepChains: opts.keepChains,
          dryRun: Boolean(opts.dryRun),
        }).finally(() => refreshAfter(ctx, domain as string, opts));
        return { data: report, text: render.renderRotate(report) };
      }),
    );

  const keepOption = (rule: string, what: string) =>
    new Option(`--keep-${rule} <n>`, what).argParser(positiveInt).default(0);
  program
    .command("prune")
    .description("keep points by a restic-like policy, merge the others into their dependents")
    .argument("<domain>")
    .addOption(backupDirOption())
    .addOption(keepOption("last", "the newest N points"))
    .addOption(keepOption("hourly", "the newest point of each of the last N hours with points"))
    .addOption(keepOption("daily", "the newest point of each of the last N days with points"))
    .addOption(keepOption("weekly", "the newest point of each of the last N ISO weeks"))
    .addOption(keepOption("monthly", "the newest point of each of the last N months"))
    .option("--dry-run", "print what would be kept, merged and removed, change nothing")
    .addOption(metricsOption())
    .action(
      act(program, async (ctx, [domain, o]) => {
        const opts = o as Record<string, number | string | boolean | undefined>;
        const report = await prune(ctx, {
          domain: domain as string,
          backupDir: backupDir(opts.backupDir as string | undefined),
          policy: {
            last: opts.keepLast as number,
            hourly: opts.keepHourly as number,
            daily: opts.keepDaily as number,
            weekly: opts.keepWeekly as number,
            monthly: opts.keepMonthly as number,
          },
          dryRun: Boolean(opts.dryRun),
        }).finally(() => refreshAfter(ctx, domain as string, opts as RepoChangeOptions));
        return { data: report, text: render.renderPrune(report) };
      }),
    );

  program
    .command("consolidate")
    .description("live-chain upkeep: merge frozen virtsnap layers")
    .argument("<domain>")
    .addOption(
      new Option("--method <method>", "commit into the base, or pull into the top")
        .choices(["commit", "pull"])
        .default("commit"),
    )
    .option(
      "--all-layers",
      "also merge the active overlay: back onto the original image (next backup is a full)",
    )
    .action(
      act(program, async (ctx, [domain, o]) => {
        const opts = o as { method: "commit" | "pull"; allLayers?: boolean };
        const report = await consolidate(ctx, {
          domain: domain as string,
          method: opts.method,
          allLayers: Boolean(opts.allLayers),
        });
        return { data: report, text: render.renderConsolidate(report) };
      }),
    );

  program
    .command("verify")
    .description("check every file of the repository against the catalog")
    .argument("<domain>")
    .addOption(backupDirOption())
    .option("--point <id>", "only this point and the points it depends on")
    .action(
      act(program, async (ctx, [domain, o]) => {
        const opts = o as { backupDir?: string; point?: string };
        const report = await verify(ctx, {
          domain: domain as string,
          backupDir: backupDir(opts.backupDir),
          point: opts.point,
        });
        return {
          data: report,
          text: render.renderVerify(report),
          exitCode: report.ok ? EXIT.ok : EXIT.failure,
        };
      }),
    );

  program
    .command("repair")
    .description("finish or undo what an interrupted run left (idempotent)")
    .argument("<domain>")
    .addOption(backupDirOption())
    .action(
      act(program, async (ctx, [domain, o]) => {
        const opts = o as { backupDir?: string };
        const dir = opts.backupDir ?? process.env.VIRTSNAP_BACKUP_DIR;
        const report = await repair(ctx, { domain: domain as string, backupDir: dir });
        return { data: report, text: render.renderRepair(report) };
      }),
    );

  const debug = program.command("debug").description("for tests and support");
  debug
    .command("failpoints")
    .description(
      "the named steps of each mutating command, in execution order (VIRTSNAP_FAILPOINT)",
    )
    .action(
      act(program, async () => {
        const table = failpointTable();
        const text = Object.entries(table)
          .map(([command, steps]) => `${command}: ${steps.join(", ") || "-"}`)
          .join("\n");
        return { data: table, text };
      }),
    );

  program
    .command("info")
    .description("capabilities, live chain, last backup")
    .argument("<domain>")
    .addOption(backupDirOption())
    .action(
      act(program, async (ctx, [domain, o]) => {
        const opts = o as { backupDir?: string };
        const dir = opts.backupDir ?? process.env.VIRTSNAP_BACKUP_DIR;
        const report = await info(ctx, { domain: domain as string, backupDir: dir });
        return { data: report, text: render.renderInfo(report) };
      }),
    );

  return program;
}

const metricsOption = () =>
  new Option("--metrics-file <path>", "refresh the domain's repository figures in this textfile");

/**
 * prune and rotate change what status.json and the metrics say about the repository (points,
 * chains, newest point, chain depth): refreshed afterwards, also after a failure half-way.
 */
async function refreshAfter(ctx: Context, domain: string, opts: RepoChangeOptions): Promise<void> {
  if (opts.dryRun) return;
  await refreshFigures(ctx, backupDir(opts.backupDir), domain, opts.metricsFile);
}

function backupDir(value: string | undefined): string {
  const dir = value ?? process.env.VIRTSNAP_BACKUP_DIR;
  if (!dir) throw new UsageError("no backup directory: give -b DIR or set VIRTSNAP_BACKUP_DIR");
  return dir;
}

/** --instant NAME, or --define NAME --instant (DESIGN.md's form): both name the new domain. */
function instantOptions(define: string | undefined, instant: string | boolean | undefined) {
  if (typeof instant === "string" && define !== undefined && instant !== define)
    throw new UsageError("--define and --instant name different domains; give the name once");
  const name = typeof instant === "string" ? instant : define;
  return { define: name, instant: instant !== undefined && instant !== false };
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("expected a whole number");
  return Number(value);
}

/** Wraps a command: builds its context, prints its output, maps errors to exit codes. */
function act(program: Command, action: Action) {
  return async (...args: unknown[]) => {
    const global = program.opts<GlobalOptions>();
    const level: Level = global.quiet ? "warn" : global.verbose ? "debug" : "info";
    const tty = Boolean(process.stderr.isTTY);
    const progress =
      tty && !global.quiet ? terminalProgress((text) => process.stderr.write(text)) : NO_PROGRESS;
    const log = createLog({
      level,
      write: (line) => {
        progress.clear();
        process.stderr.write(`${line}\n`);
      },
      tty,
    });
    const uri = global.connect ?? process.env.LIBVIRT_DEFAULT_URI ?? "qemu:///system";
    const abort = new AbortController();
    let stoppedBy: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      // The clean-up is not cancellable: a second Ctrl-C only says what is going on.
      log.error(
        `${signal}: ${stoppedBy ? "still cleaning up; virtsnap exits when that is done" : "stopping; cleaning up first"}`,
      );
      stoppedBy ??= signal;
      abort.abort();
    };
    process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
    const ctx: Context = {
      run: createRunner(log),
      log,
      virsh: virsh(uri),
      uri,
      lockDir: defaultLockDir(process.env),
      now: clock(process.env),
      env: process.env,
      signal: abort.signal,
      progress,
    };
    // As a shell reports a program killed by the signal (128 + its number), after the clean-up.
    const stopCode = () => (stoppedBy ? 128 + (os.constants.signals[stoppedBy] ?? 0) : undefined);
    try {
      const output = await action(ctx, args.slice(0, -1));
      const exitCode = stopCode() ?? output.exitCode ?? EXIT.ok;
      if (global.json) printJson(withExitCode(output.data, exitCode));
      else if (output.text !== null && !global.quiet) process.stdout.write(`${output.text}\n`);
      process.exitCode = exitCode;
    } catch (error) {
      const command = (args.at(-1) as Command).name();
      reportError(log, error, { json: Boolean(global.json), command, uri, exitCode: stopCode() });
    } finally {
      process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
      const code = stopCode();
      if (code !== undefined) process.exitCode = code;
    }
  };
}

/**
 * Test hook: VIRTSNAP_TEST_NOW=<ISO time> starts the clock there (point ids over a simulated
 * calendar); it runs on from that instant.
 */
function clock(env: NodeJS.ProcessEnv): () => Date {
  const start = env.VIRTSNAP_TEST_NOW ? Date.parse(env.VIRTSNAP_TEST_NOW) : Number.NaN;
  if (Number.isNaN(start)) return () => new Date();
  const offset = start - Date.now();
  return () => new Date(Date.now() + offset);
}

/** A report that carries the run's exit code (backup's) says the one the process exits with. */
function withExitCode(data: unknown, exitCode: number): unknown {
  if (typeof data !== "object" || data === null || !("exitCode" in data)) return data;
  return { ...data, exitCode, ...("ok" in data ? { ok: exitCode === EXIT.ok } : {}) };
}

function reportError(
  log: Log,
  error: unknown,
  opts: { json: boolean; command: string; uri: string; exitCode: number | undefined },
): void {
  const { json, command, uri } = opts;
  const why = explain(error, { uri, uid: process.getuid?.() });
  if (why.bug)
    log.error(
      `internal error (a bug in virtsnap): ${error instanceof Error ? error.stack : why.message}`,
    );
  else log.error(why.message);
  // Node's own I/O errors are told in one line; with -v their stack too, for a bug report.
  if (!why.bug && !isExpected(error) && error instanceof Error) log.debug(`${error.stack}`);
  const exitCode = opts.exitCode ?? why.exitCode;
  if (json) printJson(errorDocument(command, why.message, exitCode));
  process.exitCode = exitCode;
}

function printJson(data: unknown): void {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
}

/** Commander's message without its "error: " tag, first line only. */
function oneLine(error: CommanderError): string {
  return (error.message.split("\n")[0] ?? "").replace(/^error:\s*/, "");
}
