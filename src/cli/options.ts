import { InvalidArgumentError, Option } from "commander";
import { UsageError } from "../errors.js";

/** Options more than one command takes, and the one place that reads $VIRTSNAP_BACKUP_DIR. */

export const backupDirOption = () =>
  new Option("-b, --backup-dir <dir>", "backup directory (or $VIRTSNAP_BACKUP_DIR)");

export const metricsOption = () =>
  new Option("--metrics-file <path>", "refresh the domain's repository figures in this textfile");

export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("expected a whole number");
  return Number(value);
}

/** -b DIR, else $VIRTSNAP_BACKUP_DIR, else undefined (for commands that work without one). */
export function optionalBackupDir(value: unknown, env: NodeJS.ProcessEnv): string | undefined {
  return (value as string | undefined) ?? env.VIRTSNAP_BACKUP_DIR;
}

/** The backup directory a command cannot work without: none is a usage error. */
export function backupDir(value: unknown, env: NodeJS.ProcessEnv): string {
  const dir = optionalBackupDir(value, env);
  if (!dir) throw new UsageError("no backup directory: give -b DIR or set VIRTSNAP_BACKUP_DIR");
  return dir;
}

/** `COMMAND DOMAIN [-b DIR]` of a command that works without a backup directory (info, repair). */
export function domainAndOptionalDir(
  [domain]: unknown[],
  o: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): { domain: string; backupDir: string | undefined } {
  return { domain: domain as string, backupDir: optionalBackupDir(o.backupDir, env) };
}
