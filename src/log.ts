import chalk from "chalk";

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
