import { EXIT } from "../errors.js";
import type { Skipped } from "../libvirt/disk-selection.js";
import type { HostFacts } from "../libvirt/host.js";
import type { Mode } from "../types.js";

// One report shape for every backup run, good or bad, so --json readers and monitoring never
// meet a second one.

export interface DomainResult {
  domain: string;
  status: "ok" | "failed" | "planned";
  mode?: Mode;
  point?: string;
  level?: string;
  chain?: string;
  bytes?: number;
  seconds: number;
  disks?: { target: string; level: string; file: string }[];
  skipped: Skipped[];
  error?: string;
  /** The run's log file in the domain's folder. */
  logFile?: string;
  /** A running domain's point: whether the guest's filesystems were frozen (false: crash-consistent). */
  quiesced?: boolean;
  /** What went less than well without failing the run (a crash-consistent point, ...). */
  warnings: string[];
}

export interface BackupReport {
  ok: boolean;
  /** The process's exit code for this run. */
  exitCode: number;
  /** Why the run as a whole failed before any domain's own work; null otherwise. */
  error: string | null;
  /** What the run found the host can do (probed once); null if it never got that far. */
  host: HostFacts | null;
  domains: DomainResult[];
  summary: {
    total: number;
    ok: number;
    failed: number;
    failedDomains: string[];
    warnings: number;
  };
}

/** A domain's result with the exit code its failure alone would give (0 if it did not fail). */
export interface Outcome {
  result: DomainResult;
  exitCode: number;
}

/**
 * The run's exit code: a single domain's own (2 for an unknown domain, 75 when locked, ...); in a
 * multi-domain run 1 when all failed, 3 when some did; `warningsExit` for a good run with warnings.
 */
export function runExitCode(outcomes: Outcome[], warningsExit: number | undefined): number {
  const failed = outcomes.filter((o) => o.result.status === "failed");
  if (failed.length === 0) {
    const warned = outcomes.some((o) => o.result.warnings.length > 0);
    return warned && warningsExit !== undefined ? warningsExit : EXIT.ok;
  }
  if (outcomes.length === 1) return failed[0]?.exitCode ?? EXIT.failure;
  return failed.length === outcomes.length ? EXIT.failure : EXIT.partial;
}

export function buildReport(
  outcomes: Outcome[],
  host: HostFacts | null,
  exitCode: number,
  error: string | null,
): BackupReport {
  const results = outcomes.map((o) => o.result);
  const failed = results.filter((r) => r.status === "failed").map((r) => r.domain);
  return {
    ok: failed.length === 0 && error === null,
    exitCode,
    error,
    host,
    domains: results,
    summary: {
      total: results.length,
      ok: results.length - failed.length,
      failed: failed.length,
      failedDomains: failed,
      warnings: results.reduce((n, r) => n + r.warnings.length, 0),
    },
  };
}

/** A run that failed before any domain's own work (bad options, libvirt unreachable): each named domain failed with it. */
export function failedDomain(domain: string, error: string, seconds: number): DomainResult {
  return { domain, status: "failed", seconds, skipped: [], error, warnings: [] };
}
