import fs from "node:fs/promises";
import { writeFileAtomic } from "./repo/files.js";

/** One domain's figures for node_exporter's textfile collector. */
export interface DomainMetrics {
  domain: string;
  /** Unix seconds. */
  lastRun: number;
  lastRunSuccess: boolean;
  lastRunSeconds: number;
  lastRunBytes: number;
  /** The newest point's time (Unix seconds), whatever run made it; absent without points. */
  lastSuccess: number | undefined;
  points: number;
  chains: number;
  /** Points in the chain the next backup continues. */
  chainDepth: number;
  warnings: number;
}

const METRICS: { name: string; help: string; value: (m: DomainMetrics) => number | undefined }[] = [
  {
    name: "virtsnap_last_run_timestamp_seconds",
    help: "When the domain's last backup run ended.",
    value: (m) => m.lastRun,
  },
  {
    name: "virtsnap_last_run_success",
    help: "1 if the domain's last backup run succeeded.",
    value: (m) => (m.lastRunSuccess ? 1 : 0),
  },
  {
    name: "virtsnap_last_run_duration_seconds",
    help: "How long the last run took.",
    value: (m) => m.lastRunSeconds,
  },
  {
    name: "virtsnap_last_run_bytes",
    help: "Bytes the last run wrote into the repository.",
    value: (m) => m.lastRunBytes,
  },
  {
    name: "virtsnap_last_run_warnings",
    help: "Warnings of the last run (a crash-consistent point, ...).",
    value: (m) => m.warnings,
  },
  {
    name: "virtsnap_last_success_timestamp_seconds",
    help: "Time of the domain's newest restore point.",
    value: (m) => m.lastSuccess,
  },
  { name: "virtsnap_points", help: "Restore points in the repository.", value: (m) => m.points },
  { name: "virtsnap_chains", help: "Chains in the repository.", value: (m) => m.chains },
  {
    name: "virtsnap_chain_depth",
    help: "Points in the chain the next backup continues.",
    value: (m) => m.chainDepth,
  },
];

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * The textfile with `fresh` domains' figures replacing their old lines; other domains' lines (from
 * runs for other domains writing the same file) stay as they were.
 */
export function renderMetrics(existing: string, fresh: DomainMetrics[]): string {
  const replaced = new Set(fresh.map((m) => `domain="${escapeLabel(m.domain)}"`));
  const kept = new Map<string, string[]>();
  for (const line of existing.split("\n")) {
    const m = /^(virtsnap_\w+)\{(domain="(?:[^"\\]|\\.)*")\} /.exec(line);
    if (!m?.[1] || !m[2] || replaced.has(m[2])) continue;
    kept.set(m[1], [...(kept.get(m[1]) ?? []), line]);
  }
  const out: string[] = [];
  for (const metric of METRICS) {
    const lines = [...(kept.get(metric.name) ?? [])];
    for (const m of fresh) {
      const value = metric.value(m);
      if (value !== undefined)
        lines.push(`${metric.name}{domain="${escapeLabel(m.domain)}"} ${value}`);
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
