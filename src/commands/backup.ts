import fs from "node:fs/promises";
import path from "node:path";
import { cbtBackup } from "../cbt/capture.js";
import { planCbt } from "../cbt/plan.js";
import type { Context } from "../context.js";
import { describeIoError, OperationError, UsageError } from "../errors.js";
import { JOURNAL_FILE, Journal } from "../journal.js";
import { type DiskFilter, rawSkip, type Skipped, selectDisks } from "../libvirt/disk-selection.js";
import { checkDomainName, readDomain } from "../libvirt/domain.js";
import { lockDomain } from "../lock.js";
import { overlaysOf, ownImage, readChain } from "../qemu/live-chain.js";
import { emptyCatalog, readCatalog } from "../repo/catalog.js";
import { exists } from "../repo/files.js";
import { domainDir, nextPointId, parseOverlay } from "../repo/paths.js";
import { snapshotBackup } from "../snapshot/capture.js";
import { consolidateDisk } from "../snapshot/consolidate.js";
import { planSnapshot, type SnapshotPlan } from "../snapshot/plan.js";
import type { Catalog, Chain, Domain, Mode, Repository, RestorePoint } from "../types.js";
import { hasJournal, repairDomain } from "./repair.js";

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
  mode?: Mode;
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
  if (options.mode === "snapshot" && (options.level === "diff" || options.level === "copy")) {
    throw new UsageError(`--level ${options.level} needs --mode cbt (or auto)`);
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
  let domain = await readDomain(ctx.run, ctx.virsh, name);
  const dir = path.resolve(domainDir(options.backupDir, name));
  const release = options.dryRun
    ? async () => {}
    : await lockDomain(ctx.lockDir, ctx.uri, name, "backup", ctx.log);
  try {
    if (!options.dryRun && (await hasJournal(ctx, name, dir))) {
      ctx.log.warn(`${name}: an earlier run was interrupted; repairing that first`);
      await repairDomain(ctx, domain, dir);
      domain = await readDomain(ctx.run, ctx.virsh, name);
    }
    await ensureBackupRoot(options.backupDir);
    const repo = { dir, catalog: await catalogFor(dir, domain) };
    const { chains, skipped } = await chooseDisks(ctx, domain, options.filter);
    const mode = await resolveMode(ctx, options.mode, chains);
    const capture = prepareCapture(ctx, domain, repo, chains, mode, options);
    const { plan } = capture;
    const disks = plan.jobs.map((j) => ({ target: j.target, level: j.level, file: j.file }));
    const result = { domain: name, mode, skipped, chain: plan.chain, level: plan.level, disks };
    if (options.dryRun) return { ...result, status: "planned", point: plan.pointId, seconds: 0 };
    const targets = plan.jobs.map((j) => j.target).join(", ");
    ctx.log.info(`${name}: ${mode} ${plan.level} backup of ${targets} as point ${plan.pointId}`);
    const point = await capture.run();
    const bytes = point.disks.reduce((sum, d) => sum + d.bytes, 0);
    const seconds = (ctx.now().getTime() - started) / 1000;
    const done = { level: point.level, chain: point.chain, point: point.id, bytes, seconds };
    return { ...result, ...done, status: "ok" };
  } finally {
    await release();
  }
}

interface Capture {
  plan: {
    pointId: string;
    chain: string;
    level: string;
    jobs: { target: string; level: string; file: string }[];
  };
  run: () => Promise<RestorePoint>;
}

function prepareCapture(
  ctx: Context,
  domain: Domain,
  repo: Repository,
  chains: Chain[],
  mode: Mode,
  options: BackupOptions,
): Capture {
  const pointId = nextPointId(
    ctx.now(),
    repo.catalog.points.map((p) => p.id),
  );
  if (mode === "snapshot") {
    const plan = snapshotPlan(repo.catalog, chains, pointId, options.level);
    const run = () =>
      journaled(ctx, repo, "backup.snapshot", domain.name, pointId, (journal) =>
        snapshotBackup(ctx, domain, plan, repo, options.quiesce, journal),
      );
    return { plan, run };
  }
  const plan = planCbt(repo.catalog, chains, pointId, options.level);
  const fullInstead = () => planCbt(repo.catalog, chains, pointId, "full");
  const quiesce = options.quiesce ? "required" : "try";
  const run = () =>
    journaled(ctx, repo, "backup.cbt", domain.name, pointId, async (journal) => {
      await leaveSnapshotOverlays(ctx, domain, chains);
      return cbtBackup(ctx, domain, plan, repo, quiesce, fullInstead, journal);
    });
  return { plan, run };
}

/** The journal lives while the run does; after a failure it stays, for repair (DESIGN.md). */
async function journaled<C extends "backup.snapshot" | "backup.cbt">(
  ctx: Context,
  repo: Repository,
  command: C,
  domain: string,
  pointId: string,
  work: (journal: Journal<C>) => Promise<RestorePoint>,
): Promise<RestorePoint> {
  const journal = await Journal.open(
    path.join(repo.dir, JOURNAL_FILE),
    { command, domain, pointId },
    ctx.env,
  );
  const point = await work(journal);
  await journal.close();
  return point;
}

/**
 * auto: cbt where libvirt offers the backup API and every qcow2 disk is v3 (persistent bitmaps
 * need compat 1.1), else snapshot. An explicit --mode cbt that cannot work is refused.
 */
async function resolveMode(ctx: Context, option: ModeOption, chains: Chain[]): Promise<Mode> {
  if (option === "snapshot") return "snapshot";
  const caps = (await ctx.run(ctx.virsh.capabilitiesOfDomains())).stdout;
  const hostCbt = /<backup supported='yes'\/>/.test(caps);
  const v2 = chains
    .filter((c) => ownImage(c).format === "qcow2" && ownImage(c).compat !== "1.1")
    .map((c) => c.target);
  if (option === "cbt") {
    if (!hostCbt) {
      throw new OperationError(
        "this host's libvirt/QEMU has no backup support; use --mode snapshot",
      );
    }
    if (v2.length > 0) {
      throw new OperationError(
        `${v2.join(", ")}: qcow2 v2 (compat 0.10) cannot hold bitmaps; use --mode snapshot or 'qemu-img amend -o compat=1.1'`,
      );
    }
    return "cbt";
  }
  if (hostCbt && v2.length === 0) return "cbt";
  ctx.log.info(
    hostCbt
      ? `${v2.join(", ")}: qcow2 v2, using snapshot mode`
      : "no backup API here: using snapshot mode",
  );
  return "snapshot";
}

/** cbt keeps bitmaps in the image QEMU writes to: move disks off overlays a snapshot-mode run left. */
async function leaveSnapshotOverlays(ctx: Context, domain: Domain, chains: Chain[]): Promise<void> {
  for (const chain of chains) {
    const disk = domain.disks.find((d) => d.target === chain.target);
    if (!disk || overlaysOf(chain).length === 0) continue;
    ctx.log.info(
      `${domain.name}: merging disk ${chain.target}'s snapshot-mode overlay before a cbt backup`,
    );
    await consolidateDisk(ctx, domain, disk, "commit", true);
  }
}

/**
 * A backup dir virtsnap creates itself is 0711: nothing in it can be listed, but QEMU can reach
 * the domain folders below it, which cbt's push-mode jobs need (see cbt/qemu-access.ts).
 */
async function ensureBackupRoot(backupDir: string): Promise<void> {
  if (await exists(backupDir)) return;
  try {
    await fs.mkdir(backupDir, { recursive: true, mode: 0o711 });
  } catch (error) {
    throw describeIoError(error, `cannot create backup dir ${backupDir}`);
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

function snapshotPlan(
  catalog: Catalog,
  chains: Chain[],
  pointId: string,
  level: LevelOption,
): SnapshotPlan {
  if (level === "diff" || level === "copy")
    throw new UsageError(`--level ${level} needs --mode cbt`);
  const plan = planSnapshot(catalog, chains, pointId, level === "full");
  if (level === "inc" && plan.level !== "inc") {
    throw new OperationError(
      "no chain to continue incrementally (first backup, or the live chain was consolidated); use --level full or auto",
    );
  }
  return plan;
}
