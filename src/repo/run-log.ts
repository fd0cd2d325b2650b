import fs from "node:fs/promises";
import path from "node:path";
import type { Level, Log } from "../log.js";
import { exists } from "./files.js";
import { pointIdOf } from "./paths.js";

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
