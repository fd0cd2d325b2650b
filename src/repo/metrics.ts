import fs from "node:fs/promises";
import { writeFileAtomic } from "./files.js";

/** What one backup run of a domain did. */
export interface RunFigures {
  /** Unix seconds. */
  lastRun: number;
  lastRunSuccess: boolean;
  lastRunSeconds: number;
  lastRunBytes: number;
  warnings: number;
}

/** What the domain's repository holds now; backup, prune and rotate change these. */
export interface RepoFigures {
  /** The newest point's time (Unix seconds), whatever run made it; absent without points. */
  lastSuccess: number | undefined;
  points: number;
  chains: number;
  /** Points in the chain the next backup continues. */
  chainDepth: number;
}

/**
 * One domain's figures for node_exporter's textfile collector. A group left out keeps the lines
 * the file has (prune gives no run figures; a run that could not read the catalog, no repo's).
 */
export interface DomainMetrics {
  domain: string;
  run?: RunFigures;
  repo?: RepoFigures;
}

interface Metric {
  name: string;
  help: string;
  group: "run" | "repo";
  value: (m: RunFigures & RepoFigures) => number | undefined;
}

const METRICS: Metric[] = [
  {
    name: "virtsnap_last_run_timestamp_seconds",
    help: "When the domain's last backup run ended.",
    group: "run",
    value: (m) => m.lastRun,
  },
  {
    name: "virtsnap_last_run_success",
    help: "1 if the domain's last backup run succeeded.",
    group: "run",
    value: (m) => (m.lastRunSuccess ? 1 : 0),
  },
  {
    name: "virtsnap_last_run_duration_seconds",
    help: "How long the last run took.",
    group: "run",
    value: (m) => m.lastRunSeconds,
  },
  {
    name: "virtsnap_last_run_bytes",
    help: "Bytes the last run wrote into the repository.",
    group: "run",
    value: (m) => m.lastRunBytes,
  },
  {
    name: "virtsnap_last_run_warnings",
    help: "Warnings of the last run (a crash-consistent point, ...).",
    group: "run",
    value: (m) => m.warnings,
  },
  {
    name: "virtsnap_last_success_timestamp_seconds",
    help: "Time of the domain's newest restore point.",
    group: "repo",
    value: (m) => m.lastSuccess,
  },
  {
    name: "virtsnap_points",
    help: "Restore points in the repository.",
    group: "repo",
    value: (m) => m.points,
  },
  {
    name: "virtsnap_chains",
    help: "Chains in the repository.",
    group: "repo",
    value: (m) => m.chains,
  },
  {
    name: "virtsnap_chain_depth",
    help: "Points in the chain the next backup continues.",
    group: "repo",
    value: (m) => m.chainDepth,
  },
];

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * The textfile with `fresh` domains' figures replacing their old lines, group by group; other
 * domains' lines (from runs for other domains writing the same file) stay as they were.
 */
export function renderMetrics(existing: string, fresh: DomainMetrics[]): string {
  const label = (domain: string) => `domain="${escapeLabel(domain)}"`;
  const metricOf = new Map(METRICS.map((m) => [m.name, m]));
  const replaced = (metric: Metric, domainLabel: string) =>
    fresh.some((m) => label(m.domain) === domainLabel && m[metric.group] !== undefined);
  const kept = new Map<string, string[]>();
  for (const line of existing.split("\n")) {
    const m = /^(virtsnap_\w+)\{(domain="(?:[^"\\]|\\.)*")\} /.exec(line);
    const metric = m?.[1] ? metricOf.get(m[1]) : undefined;
    if (!metric || !m?.[2] || replaced(metric, m[2])) continue;
    kept.set(metric.name, [...(kept.get(metric.name) ?? []), line]);
  }
  const out: string[] = [];
  for (const metric of METRICS) {
    const lines = [...(kept.get(metric.name) ?? [])];
    for (const m of fresh) {
      const figures = m[metric.group];
      const value = figures && metric.value(figures as RunFigures & RepoFigures);
      if (value !== undefined) lines.push(`${metric.name}{${label(m.domain)}} ${value}`);
    }
    if (lines.length === 0) continue;
    out.push(
      `# HELP ${metric.name} ${metric.help}`,
      `# TYPE ${metric.name} gauge`,
      ...lines.sort(),
    );
  }
  return `${out.join("\n")}\n`;
}

/**
 * Rewrites the file atomically, readable by node_exporter's user (which reads *.prom only, so the
 * temporary `.partial` name is never read).
 */
export async function writeMetricsFile(file: string, fresh: DomainMetrics[]): Promise<void> {
  const existing = await fs.readFile(file, "utf8").catch(() => "");
  await writeFileAtomic(file, renderMetrics(existing, fresh), 0o644);
}
