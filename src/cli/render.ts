import type { BackupReport, DomainResult } from "../commands/backup.js";
import type { ConsolidateReport } from "../commands/consolidate.js";
import type { InfoReport } from "../commands/info.js";
import type { DomainPoints } from "../commands/list.js";
import type { PruneReport } from "../commands/prune.js";
import type { RepairReport } from "../commands/repair.js";
import type { RestoreReport } from "../commands/restore.js";
import type { RotateReport } from "../commands/rotate.js";
import type { UpgradeReport } from "../commands/upgrade.js";
import type { VerifyReport } from "../commands/verify.js";
import { humanBytes } from "../progress.js";

/** Human-readable text for each command's report; --json prints the report itself instead. */

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** null when the run's one error line on stderr says it all (one domain, or the run as a whole). */
export function renderBackup(report: BackupReport): string | null {
  if (report.error !== null || (report.domains.length === 1 && !report.ok)) return null;
  const lines = report.domains.flatMap((r) => [
    domainLine(r),
    ...r.warnings.map((w) => `${r.domain}: WARNING: ${w}`),
  ]);
  const warned = report.summary.warnings;
  const tail = warned > 0 ? [`finished with ${warned} warning(s)`] : [];
  if (report.domains.length < 2) return [...lines, ...tail].join("\n");
  const rows = [["DOMAIN", "RESULT", "MODE", "LEVEL", "POINT", "SIZE", "SECONDS", "WARNINGS"]];
  for (const r of report.domains) {
    const result = r.status === "failed" ? "FAILED" : r.status;
    const bytes = r.bytes === undefined ? "-" : humanBytes(r.bytes);
    rows.push([
      r.domain,
      result,
      r.mode ?? "-",
      r.level ?? "-",
      r.point ?? "-",
      bytes,
      r.seconds.toFixed(1),
      String(r.warnings.length),
    ]);
  }
  const { summary } = report;
  const failed = summary.failed > 0 ? `; failed: ${summary.failedDomains.join(", ")}` : "";
  return [
    ...lines,
    "",
    table(rows),
    `${summary.ok} of ${summary.total} domains backed up${failed}`,
    ...tail,
  ].join("\n");
}

function domainLine(r: DomainResult): string {
  if (r.status === "failed") return `${r.domain}: FAILED: ${r.error}`;
  const disks = (r.disks ?? []).map((d) => `${d.target} ${d.level}`).join(", ");
  if (r.status === "planned")
    return `${r.domain}: would take point ${r.point} (${r.level}, chain ${r.chain}): ${disks}`;
  const quiesced = r.quiesced === false ? ", crash-consistent" : "";
  return `${r.domain}: point ${r.point} (${r.level}${quiesced}, chain ${r.chain}): ${disks}; ${humanBytes(r.bytes ?? 0)} in ${r.seconds.toFixed(1)} s`;
}

export function renderList(domains: DomainPoints[]): string {
  if (domains.length === 0) return "no backups";
  return domains
    .map(({ domain, points }) => {
      const rows = [["POINT", "LEVEL", "MODE", "CHAIN", "DISKS", "SIZE", "QUIESCED"]];
      for (const p of points) {
        const bytes = p.disks.reduce((sum, d) => sum + d.bytes, 0);
        // whole: copied whole inside an incremental (a raw disk in cbt mode); -name: left out.
        const disks = [
          ...p.disks.map((d) => (d.whole ? `${d.target}(whole)` : d.target)),
          ...(p.excluded ?? []).map((e) => `-${e.target}`),
        ].join(",");
        rows.push([
          p.id,
          p.level,
          p.mode,
          p.chain,
          disks,
          humanBytes(bytes),
          p.quiesced ? "yes" : "no",
        ]);
      }
      return `${domain}: ${points.length} point(s)\n${table(rows)}`;
    })
    .join("\n\n");
}

export function renderRestore(report: RestoreReport): string {
  const lines = report.files.map((f) => `${f.target}: ${f.file}`);
  return [
    `restored ${report.domain} at ${report.point}:`,
    ...lines,
    `domain XML: ${report.xml}`,
    ...report.missing.map((m) => `not in this point: ${m.target} (${m.reason})`),
    ...(report.defined
      ? [
          `${report.resumed ? "resumed from memory and defined" : report.started ? "defined and started" : "defined"} domain '${report.defined}'`,
        ]
      : []),
  ].join("\n");
}

export function renderRotate(report: RotateReport): string {
  const verb = report.dryRun ? "would remove" : "removed";
  const lines = report.removedChains.map(
    (c) => `${report.domain}: ${verb} chain ${c.id} (${points(c.points)}, ${humanBytes(c.bytes)})`,
  );
  if (lines.length === 0) lines.push(`${report.domain}: no chain to remove`);
  lines.push(
    `${report.domain}: ${report.dryRun ? "would keep" : "kept"} chains: ${report.kept.join(", ")}`,
  );
  return lines.join("\n");
}

function points(n: number): string {
  return `${n} point${n === 1 ? "" : "s"}`;
}

export function renderConsolidate(report: ConsolidateReport): string {
  return report.disks
    .map((d) => `${report.domain} ${d.target}: ${[...d.after].reverse().join(" <- ")}`)
    .join("\n");
}

export function renderInfo(report: InfoReport): string {
  const lines = [
    `domain:     ${report.domain} (${report.uuid})`,
    `state:      ${report.active ? "running" : "shut off"}`,
    `libvirt:    ${report.libvirt ?? "unknown"}; hypervisor: ${report.hypervisor ?? "unknown"}`,
    `cbt:        ${report.cbtSupported ? "supported (virsh backup-begin)" : "not supported"}`,
  ];
  for (const disk of report.disks) {
    const chain = [...disk.chain]
      .reverse()
      .map((l) => `${l.file} [${l.format}${l.virtsnap ? ", virtsnap" : ""}]`)
      .join(" <- ");
    lines.push(`disk ${disk.target} (${disk.device}, ${disk.type}): ${chain || "-"}`);
  }
  const last = report.lastPoint;
  lines.push(`last point: ${last ? `${last.id} (${last.level}, ${last.mode})` : "none"}`);
  return lines.join("\n");
}

export function renderRepair(report: RepairReport): string {
  if (report.actions.length === 0) return `${report.domain}: nothing to repair`;
  return report.actions.map((a) => `${report.domain}: ${a}`).join("\n");
}

export function renderVerify(report: VerifyReport): string {
  const lines = report.points.map(
    (p) => `${p.id}: ${p.ok ? "ok" : `DAMAGED: ${p.problems.join("; ")}`}`,
  );
  const damaged = report.points.filter((p) => !p.ok).length;
  lines.push(
    report.ok
      ? `${report.domain}: all ${report.points.length} point(s) verified`
      : `${report.domain}: ${damaged} damaged point(s)`,
  );
  return lines.join("\n");
}

export function renderPrune(report: PruneReport): string {
  const dry = report.dryRun;
  const lines: string[] = [];
  if (report.interruptedPrune.length > 0)
    lines.push(
      `${dry ? "would first finish" : "finished"} an interrupted prune of ${report.interruptedPrune.join(", ")}`,
    );
  lines.push(
    ...report.kept.map((k) => `${dry ? "would keep" : "kept"} ${k.id} (${k.reasons.join(", ")})`),
  );
  for (const m of report.merges)
    lines.push(
      `${dry ? "would merge" : "merged"} ${m.absorbs.length === 1 ? "point" : "points"} ${m.absorbs.join(", ")} into ${m.point} (${m.how})`,
    );
  const removed = report.removed.length;
  lines.push(
    removed === 0
      ? `${dry ? "would remove" : "removed"}: none`
      : `${dry ? "would remove" : "removed"} ${points(removed)}: ${report.removed.join(", ")} (${humanBytes(report.removedBytes)} of files)`,
  );
  if (!dry)
    lines.push(`repository: ${humanBytes(report.bytesBefore)} -> ${humanBytes(report.bytesAfter)}`);
  return lines.join("\n");
}

export function renderUpgrade(report: UpgradeReport): string {
  if (report.from === report.to)
    return `${report.domain}: catalog is format ${report.to} already; nothing to do`;
  return `${report.domain}: catalog upgraded from format ${report.from} to ${report.to} (${report.files} disk files, ${humanBytes(report.bytes)} checked)`;
}
