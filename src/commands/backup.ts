import path from "node:path";
import type { Context } from "../context.js";
import { OperationError, UsageError } from "../errors.js";
import { type DiskFilter, rawSkip, type Skipped, selectDisks } from "../libvirt/disk-selection.js";
import { checkDomainName, readDomain } from "../libvirt/domain.js";
import { lockDomain } from "../lock.js";
import { ownImage, readChain } from "../qemu/live-chain.js";
import { emptyCatalog, readCatalog } from "../repo/catalog.js";
import { domainDir, nextPointId, parseOverlay } from "../repo/paths.js";
import { snapshotBackup } from "../snapshot/capture.js";
import { planSnapshot, type SnapshotPlan } from "../snapshot/plan.js";
import type { Catalog, Chain, Domain } from "../types.js";

export type ModeOption = "auto" | "snapshot" | "cbt";
export type LevelOption = "auto" | "full" | "inc" | "diff" | "copy";

export interface BackupOptions {
  domains: string[];
  all: boolean;
  allRunning: boolean;
  backupDir: string;
  mode: ModeOption;
  level: LevelOption;
  quiesce: boolean;
  filter: DiskFilter;
  dryRun: boolean;
}

export interface DomainResult {
  domain: string;
  status: "ok" | "failed" | "planned";
  point?: string;
  level?: string;
  chain?: string;
  bytes?: number;
  seconds: number;
  disks?: { target: string; level: string; file: string }[];
  skipped: Skipped[];
  error?: string;
}

export interface BackupReport {
  ok: boolean;
  domains: DomainResult[];
}

export async function backup(ctx: Context, options: BackupOptions): Promise<BackupReport> {
  checkOptions(options);
  const names = await domainNames(ctx, options);
  const results: DomainResult[] = [];
  for (const name of names) {
    const started = ctx.now().getTime();
    try {
      results.push(await backupDomain(ctx, name, options, started));
    } catch (error) {
      // One domain alone: its error is the run's error (and exit code); in a fleet, the others go on.
      if (names.length === 1) throw error;
      ctx.log.error(`${name}: ${(error as Error).message}`);
      const seconds = (ctx.now().getTime() - started) / 1000;
      results.push({
        domain: name,
        status: "failed",
        seconds,
        skipped: [],
        error: (error as Error).message,
      });
    }
  }
  return { ok: results.every((r) => r.status !== "failed"), domains: results };
}

function checkOptions(options: BackupOptions): void {
  const sources = [options.domains.length > 0, options.all, options.allRunning].filter(
    Boolean,
  ).length;
  if (sources !== 1)
    throw new UsageError(
      "name the domains to back up, or give --all or --all-running (one of them)",
    );
  if (options.mode === "cbt")
    throw new UsageError("--mode cbt is not implemented yet; use --mode snapshot");
  if (options.level === "diff" || options.level === "copy") {
    throw new UsageError(`--level ${options.level} needs cbt mode, which is not implemented yet`);
  }
  for (const name of options.domains) checkDomainName(name);
}

async function domainNames(ctx: Context, options: BackupOptions): Promise<string[]> {
  if (options.domains.length > 0) return [...new Set(options.domains)];
  const { stdout } = await ctx.run(ctx.virsh.listNames(options.allRunning));
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

async function backupDomain(
  ctx: Context,
  name: string,
  options: BackupOptions,
  started: number,
): Promise<DomainResult> {
  const domain = await readDomain(ctx.run, ctx.virsh, name);
  const dir = path.resolve(domainDir(options.backupDir, name));
  const release = options.dryRun
    ? async () => {}
    : await lockDomain(ctx.lockDir, ctx.uri, name, "backup", ctx.log);
  try {
    const catalog = await catalogFor(dir, domain);
    const { chains, skipped } = await chooseDisks(ctx, domain, options.filter);
    const plan = planFor(catalog, chains, ctx.now(), options.level);
    const result = {
      domain: name,
      skipped,
      chain: plan.chain,
      level: plan.level,
      disks: describeJobs(plan),
    };
    if (options.dryRun) return { ...result, status: "planned", point: plan.pointId, seconds: 0 };
    ctx.log.info(
      `${name}: ${plan.level} backup of ${plan.jobs.map((j) => j.target).join(", ")} as point ${plan.pointId}`,
    );
    const point = await snapshotBackup(ctx, domain, plan, { dir, catalog }, options.quiesce);
    const bytes = point.disks.reduce((sum, d) => sum + d.bytes, 0);
    const seconds = (ctx.now().getTime() - started) / 1000;
    return { ...result, status: "ok", point: point.id, bytes, seconds };
  } finally {
    await release();
  }
}

async function catalogFor(dir: string, domain: Domain): Promise<Catalog> {
  const catalog = (await readCatalog(dir)) ?? emptyCatalog(domain);
  if (catalog.domain.uuid && domain.uuid && catalog.domain.uuid !== domain.uuid) {
    throw new OperationError(
      `${dir} holds backups of another domain named '${domain.name}' (uuid ${catalog.domain.uuid}); use another backup dir`,
    );
  }
  return catalog;
}

async function chooseDisks(ctx: Context, domain: Domain, filter: DiskFilter) {
  const { selected, skipped } = selectDisks(domain.disks, filter);
  const chains: Chain[] = [];
  for (const disk of selected) {
    const chain = await readChain(ctx.run, disk);
    const raw = rawSkip(disk.target, ownImage(chain).format, filter.includeRaw);
    if (raw) skipped.push(raw);
    else chains.push(chain);
  }
  for (const s of skipped) {
    const disk = domain.disks.find((d) => d.target === s.target);
    if (disk?.device !== "disk") continue;
    ctx.log.warn(`${domain.name}: skipping disk ${s.target}: ${s.reason}`);
    // An overlay from an earlier run keeps growing while nothing backs the disk up any more.
    if (disk.source && parseOverlay(disk.source)) {
      ctx.log.warn(
        `${domain.name}: disk ${s.target} still runs on ${disk.source}; 'virtsnap consolidate --all-layers' merges it`,
      );
    }
  }
  if (chains.length === 0)
    throw new OperationError(`domain '${domain.name}' has no disk to back up`);
  return { chains, skipped };
}

function planFor(catalog: Catalog, chains: Chain[], now: Date, level: LevelOption): SnapshotPlan {
  const pointId = nextPointId(
    now,
    catalog.points.map((p) => p.id),
  );
  const plan = planSnapshot(catalog, chains, pointId, level === "full");
  if (level === "inc" && plan.level !== "inc") {
    throw new OperationError(
      "no chain to continue incrementally (first backup, or the live chain was consolidated); use --level full or auto",
    );
  }
  return plan;
}

function describeJobs(plan: SnapshotPlan) {
  return plan.jobs.map((j) => ({ target: j.target, level: j.level, file: j.file }));
}
