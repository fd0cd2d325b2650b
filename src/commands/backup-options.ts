import { UsageError } from "../errors.js";
import type { DiskFilter } from "../libvirt/disk-selection.js";
import { checkDomainName } from "../libvirt/domain.js";
import { checkNotifyUrl, type NotifyOn } from "../notify.js";
import type { Quiesce } from "../types.js";

// What a backup run is asked to do, and the combinations it refuses before touching anything.

export type ModeOption = "auto" | "snapshot" | "cbt";
export type LevelOption = "auto" | "full" | "inc" | "diff" | "copy";

export interface BackupOptions {
  domains: string[];
  all: boolean;
  allRunning: boolean;
  backupDir: string;
  mode: ModeOption;
  level: LevelOption;
  quiesce: Quiesce;
  filter: DiskFilter;
  dryRun: boolean;
  /** Start a new chain once the current one has this many points. */
  fullEvery: number | undefined;
  compress: boolean;
  bandwidthMiB: number | undefined;
  /** How many domains are backed up at once. */
  parallel: number;
  /** Snapshot mode: save a running domain's RAM with the point. */
  memoryState: boolean;
  /** Prometheus textfile to update with this run's figures. */
  metricsFile: string | undefined;
  /** The exit code of a run that succeeded with warnings (--warnings-exit). */
  warningsExit?: number | undefined;
  /** healthchecks.io-style ping URLs, and when to ping them. */
  notifyUrls: string[];
  notifyOn: NotifyOn;
}

export function checkOptions(options: BackupOptions): void {
  const sources = [options.domains.length > 0, options.all, options.allRunning].filter(
    Boolean,
  ).length;
  if (sources !== 1)
    throw new UsageError(
      "name the domains to back up, or give --all or --all-running (one of them)",
    );
  if (options.mode === "snapshot" && (options.level === "diff" || options.level === "copy")) {
    throw new UsageError(`--level ${options.level} needs --mode cbt (or auto)`);
  }
  for (const name of options.domains) checkDomainName(name);
  if (!Number.isInteger(options.parallel) || options.parallel < 1)
    throw new UsageError("--parallel must be a whole number of at least 1");
  if (options.fullEvery !== undefined && options.fullEvery < 1)
    throw new UsageError("--full-every must be a whole number of at least 1");
  if (options.fullEvery !== undefined && options.level !== "auto")
    throw new UsageError("--full-every decides the level itself; leave out --level");
  if (options.memoryState && options.mode === "cbt")
    throw new UsageError(
      "--memory-state needs --mode snapshot (or auto, which then picks snapshot)",
    );
  if (options.memoryState && options.quiesce === "required")
    throw new UsageError("--memory-state saves RAM and disks together; leave out --quiesce");
  if (!options.backupDir)
    throw new UsageError("no backup directory: give -b DIR or set VIRTSNAP_BACKUP_DIR");
  for (const url of options.notifyUrls) {
    const problem = checkNotifyUrl(url);
    if (problem) throw new UsageError(problem);
  }
  if (options.bandwidthMiB !== undefined && options.bandwidthMiB < 1)
    throw new UsageError("--bandwidth must be a whole number of MiB/s, at least 1");
}
