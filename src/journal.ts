import fs from "node:fs/promises";
import path from "node:path";
import { describeIoError, OperationError } from "./errors.js";
import { makeWritableDir, writeFileAtomic } from "./repo/files.js";
import { type Command, failpoint, type StepOf } from "./steps.js";

/** What a mutating command is doing, written before each step so `repair` can finish or undo it. */
export interface JournalRecord {
  command: Command;
  domain: string;
  pid: number;
  startedAt: string;
  /** The point being made (backup) or the chains being removed (rotate). */
  pointId?: string;
  chains?: string[];
  /** prune: the points being removed (repair finishes the prune, it never undoes it). */
  removed?: string[];
  /** A shut-off domain virtsnap started paused for a cbt job: repair shuts it off again. */
  startedPaused?: boolean;
  /** restore: the folder whose `*.partial` files repair removes. */
  restoreTo?: string;
  /** consolidate --all-layers, to be finished by repair. */
  allLayers?: boolean;
  /** The run ended with an error it reported (and undid what it could), rather than being killed. */
  failed?: boolean;
  steps: string[];
}

export const JOURNAL_FILE = "journal.json";

export class Journal<C extends Command = Command> {
  private constructor(
    readonly file: string,
    readonly record: JournalRecord,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async open<C extends Command>(
    file: string,
    record: Omit<JournalRecord, "steps" | "pid" | "startedAt"> & { command: C },
    env: NodeJS.ProcessEnv,
  ): Promise<Journal<C>> {
    const full: JournalRecord = {
      ...record,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      steps: [],
    };
    try {
      await makeWritableDir(path.dirname(file));
    } catch (error) {
      throw describeIoError(error, `cannot write backups into ${path.dirname(file)}`);
    }
    const journal = new Journal<C>(file, full, env);
    await journal.save();
    return journal;
  }

  /** Records that `step` begins (and is where a fail point can strike). */
  async step(step: StepOf<C>): Promise<void> {
    this.record.steps.push(step);
    await this.save();
    failpoint(`${this.record.command}.${step}`, this.env);
  }

  async note(
    facts: Partial<Pick<JournalRecord, "startedPaused" | "pointId" | "chains" | "failed">>,
  ): Promise<void> {
    Object.assign(this.record, facts);
    await this.save();
  }

  /** The operation is over (done or cleanly undone): nothing is left for repair. */
  async close(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }

  private async save(): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(this.record, null, 2)}\n`);
  }
}

export async function readJournal(file: string): Promise<JournalRecord | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as JournalRecord;
  } catch {
    return undefined;
  }
}

/**
 * prune and rotate change only the repository, so they cannot repair a domain; what a killed run
 * left in `file` (say, a cbt backup's paused domain) must not be overwritten by their own journal.
 * A run that failed cleanly has undone its work, and its journal only says so.
 */
export async function refuseIfInterrupted(file: string, domain: string): Promise<void> {
  const left = await readJournal(file);
  if (left && !left.failed) {
    throw new OperationError(
      `an interrupted ${left.command.split(".")[0]} of '${domain}' (started ${left.startedAt}) is not repaired yet: run 'virtsnap repair ${domain}' first`,
    );
  }
}
