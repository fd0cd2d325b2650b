import fs from "node:fs/promises";
import path from "node:path";
import chalk from "chalk";
import { exists } from "./repo/files.js";
import { pointIdOf } from "./repo/paths.js";

export type Level = "error" | "warn" | "info" | "debug";
const rank: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Log {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  /** Warnings said during this run, so a report can repeat them. */
  readonly warnings: string[];
}

export interface LogOptions {
  level: Level;
  /** Where lines go; stderr in the CLI, so stdout stays free for --json. */
  write: (line: string) => void;
  /** On a terminal: colours and no timestamps; otherwise plain timestamped lines for cron mail. */
  tty: boolean;
  now?: () => Date;
}

const paint: Record<Level, (s: string) => string> = {
  error: chalk.red,
  warn: chalk.yellow,
  info: (s) => s,
  debug: chalk.gray,
};

export function createLog(options: LogOptions): Log {
  const now = options.now ?? (() => new Date());
  const warnings: string[] = [];
  const emit = (level: Level, message: string) => {
    if (rank[level] > rank[options.level]) return;
    const tag = level === "info" ? "" : `${level}: `;
    if (options.tty) options.write(paint[level](`${tag}${message}`));
    else options.write(`${now().toISOString()} ${tag}${message}`);
  };
  return {
    warnings,
    error: (m) => emit("error", m),
    warn: (m) => {
      warnings.push(m);
      emit("warn", m);
    },
    info: (m) => emit("info", m),
    debug: (m) => emit("debug", m),
  };
}

export function silentLog(): Log {
  return createLog({ level: "error", write: () => {}, tty: false });
}

const KEEP_RUN_LOGS = 30;

/**
 * A run's log for one domain: every line goes to `console` as usual, and every line of every level
 * (the commands run too) is kept, timestamped, for DIR/<domain>/log/<run>.log. Lines before the
 * file exists (the domain may not even exist) are buffered; a run that never attaches writes none.
 */
export class RunLog {
  readonly log: Log;
  file: string | undefined;
  private lines: string[] = [];
  private handle: fs.FileHandle | undefined;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    console: Log,
    private readonly now: () => Date,
  ) {
    const warnings: string[] = [];
    this.log = {
      warnings,
      error: (m) => {
        console.error(m);
        this.fileOnly("error", m);
      },
      warn: (m) => {
        warnings.push(m);
        console.warn(m);
        this.fileOnly("warn", m);
      },
      info: (m) => {
        console.info(m);
        this.fileOnly("info", m);
      },
      debug: (m) => {
        console.debug(m);
        this.fileOnly("debug", m);
      },
    };
  }

  /** A line for the file alone: for what the console shows by another way (the CLI's error line). */
  fileOnly(level: Level, message: string): void {
    const line = `${this.now().toISOString()} ${level} ${message}\n`;
    if (this.handle) {
      const handle = this.handle;
      this.pending = this.pending.then(() => handle.write(line)).catch(() => {});
    } else this.lines.push(line);
  }

  /** Starts the file in `domainDir`/log (0600) and drops the oldest beyond the newest 30. */
  async attach(domainDir: string): Promise<void> {
    const dir = path.join(domainDir, "log");
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const stamp = pointIdOf(this.now());
      let file = path.join(dir, `${stamp}.log`);
      for (let n = 1; await exists(file); n++) file = path.join(dir, `${stamp}-${n}.log`);
      this.handle = await fs.open(file, "a", 0o600);
      this.file = file;
      await this.handle.write(this.lines.join(""));
      this.lines = [];
      const logs = (await fs.readdir(dir)).filter((f) => f.endsWith(".log")).sort();
      for (const old of logs.slice(0, Math.max(0, logs.length - KEEP_RUN_LOGS)))
        await fs.rm(path.join(dir, old), { force: true });
    } catch (error) {
      this.log.warn(`cannot write the run log in ${dir}: ${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await this.pending;
    await this.handle?.close();
    this.handle = undefined;
  }
}
