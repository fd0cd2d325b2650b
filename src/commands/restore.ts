import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { withDomainLock } from "../domain-lock.js";
import { describeIoError, UsageError } from "../errors.js";
import { JOURNAL_FILE, Journal } from "../journal.js";
import { checkNameIsFree } from "../libvirt/domain.js";
import { checkQemuReaches, letQemuReach, qemuIdentityOfHost } from "../libvirt/qemu-access.js";
import { existingPoint, existingRepo } from "../repo/access.js";
import { SWTPM_DIR, writeBootFile } from "../repo/boot-files.js";
import { exists, makeWritableDir, writeFileAtomic } from "../repo/files.js";
import { type ContentCheck, startRestoreChecks } from "../repo/integrity.js";
import { handBackIfUnread, lendLayers } from "../repo/lending.js";
import { domainXmlFile } from "../repo/paths.js";
import type { Catalog, ExcludedDisk, RestorePoint } from "../types.js";
import {
  bootPaths,
  firstMissingDir,
  placeTpm,
  removeRestored,
  resumeFromMemory,
  writeImage,
  writeOverlay,
} from "./restore-files.js";
import { missingDisks, tellMissing } from "./restore-missing.js";
import { isAux, type Plan, planRestore, type RestoreOptions } from "./restore-plan.js";
import { instantChains, restoredXml } from "./restore-xml.js";

export type { RestoreOptions } from "./restore-plan.js";

export interface RestoreReport {
  domain: string;
  point: string;
  files: { target: string; file: string }[];
  xml: string;
  /** The new domain's name, with --define or --instant. */
  defined?: string;
  started: boolean;
  /** Running from the point's saved memory (backup --memory-state), not booted. */
  resumed: boolean;
  /** The domain's disks this point does not hold, with the reason the backup recorded. */
  missing: ExcludedDisk[];
}

/**
 * Writes each disk of a point as a standalone image into `to`, plus the domain XML pointing at them,
 * and with --define registers that XML as a new domain. --instant writes thin overlays over the
 * repository files instead and starts the domain: it runs in seconds, its writes go to the overlays.
 * Every repository file it reads is checked against the catalog first. Reads the repository only
 * (--instant lends its files to QEMU for reading); never writes over an existing file or domain.
 */
export async function restore(ctx: Context, options: RestoreOptions): Promise<RestoreReport> {
  if (options.instant && options.format !== "qcow2")
    throw new UsageError("--instant runs on qcow2 overlays; leave out --format raw");
  if (options.instant && !options.define)
    throw new UsageError("--instant needs a name for the new domain: --instant NAME");
  if (options.define) await checkNameIsFree(ctx.run, ctx.virsh, options.define);
  return withDomainLock(ctx, options.domain, "restore", async () => {
    // Read under the lock: a prune that finished just before would have left a stale catalog.
    const { dir, catalog } = await existingRepo(options.backupDir, options.domain);
    const point = existingPoint(catalog, options.point, options.domain);
    const plan = planRestore(ctx, options, point);
    for (const file of plan.writes) {
      if (await exists(file))
        throw new UsageError(`${file} already exists; restore never overwrites files`);
    }
    await handBackIfUnread(ctx, dir);
    const read = [...plan.bootFiles.map((b) => b.aux), ...(plan.resume ? [plan.memory] : [])];
    const contents = await startRestoreChecks(
      ctx,
      dir,
      catalog,
      point,
      plan.disks,
      read.filter(isAux),
    );
    const savedXml = await fs.readFile(
      path.join(dir, domainXmlFile(point.chain, point.id)),
      "utf8",
    );
    const missing = await missingDisks(savedXml, point);
    tellMissing(ctx.log, point, missing);
    const job = { ctx, options, dir, catalog, point, plan, contents };
    await writeFiles(job);
    return { ...(await register(job)), missing };
  });
}

/** Disks, boot files and the XML into --to; on any failure everything written there goes again. */
async function writeFiles(job: RestoreJob): Promise<void> {
  const { ctx, options, dir, catalog, point, plan, contents } = job;
  const { to } = plan;
  // Only a folder this restore makes is virtsnap's to open up for QEMU; a user's keeps its modes.
  const made = await firstMissingDir(to);
  let journal: Journal<"restore"> | undefined;
  try {
    await makeWritableDir(to).catch((error) => {
      throw describeIoError(error, `cannot write into ${to}`);
    });
    if (options.define) {
      // The new domain's QEMU opens the files in `to` (and, for --instant, the repository's).
      const qemu = await qemuOfHost(ctx);
      if (made !== undefined) await letQemuReach(qemu, [to], WHY);
      else await checkQemuReaches(qemu, to, WHY);
      if (options.instant) await checkQemuReaches(qemu, path.dirname(dir), WHY);
    }
    journal = await Journal.open(
      path.join(dir, JOURNAL_FILE),
      { command: "restore", domain: options.domain, restoreTo: to },
      ctx.env,
    );
    await journal.step("write-disks");
    for (const { disk, file } of plan.outputs) {
      const source = path.join(dir, disk.file);
      ctx.log.info(`disk ${disk.target}: ${options.instant ? "overlay" : "writing"} ${file}`);
      if (options.instant) await writeOverlay(ctx, source, file, disk.virtualSize);
      else await writeImage(ctx, source, file, options.format);
    }
    for (const { aux, file } of plan.bootFiles) {
      ctx.log.info(`${aux.kind}: writing ${file}`);
      await writeBootFile(path.join(dir, aux.file), file);
    }
    // Nothing points at the written files, nor is defined or started, before every source matched.
    await contents.passed();
    await journal.step("write-xml");
    await writeFileAtomic(plan.xmlFile, await restoredXml(ctx, options, dir, catalog, point, plan));
    await journal.close();
  } catch (error) {
    await removeRestored(to, made, plan.writes);
    // Cleaned up already: nothing is left for repair to finish.
    await journal?.close();
    throw error;
  }
}

/** One restore under way: what every step after the checks reads. */
interface RestoreJob {
  ctx: Context;
  options: RestoreOptions;
  dir: string;
  catalog: Catalog;
  point: RestorePoint;
  plan: Plan;
  /** The sources' checksums, computed while the disks are written. */
  contents: ContentCheck;
}

const WHY = "the restored domain's QEMU opens these files";

async function qemuOfHost(ctx: Context) {
  return qemuIdentityOfHost((await ctx.run(ctx.virsh.capabilitiesOfHost())).stdout);
}

/** Lend the repository to QEMU (--instant), then resume, define and start, as asked. */
async function register(job: RestoreJob): Promise<Omit<RestoreReport, "missing">> {
  const { ctx, options, dir, point, plan } = job;
  try {
    if (options.instant)
      await lendLayers(ctx, dir, job.catalog, point, plan.disks, await qemuOfHost(ctx));
    await bringUp(job);
  } catch (error) {
    // Not defined: nothing reads the repository, the loan ends now. Defined: it stays for the domain.
    if (options.instant) await handBackIfUnread(ctx, dir);
    throw error;
  }
  return {
    domain: options.domain,
    point: point.id,
    files: plan.outputs.map((o) => ({ target: o.disk.target, file: o.file })),
    xml: plan.xmlFile,
    ...(options.define ? { defined: options.define } : {}),
    started: options.instant || plan.resume,
    resumed: plan.resume,
  };
}

async function bringUp(job: RestoreJob): Promise<void> {
  const { ctx, options, dir, catalog, point, plan } = job;
  const tpmFiles = plan.bootFiles.map((b) => b.aux).filter((f) => f.kind === "tpm");
  if (plan.resume && plan.memory) {
    await placeTpm(ctx, dir, tpmFiles, catalog.domain.uuid);
    await resumeFromMemory(
      ctx,
      path.join(dir, plan.memory.file),
      plan.sources,
      bootPaths(plan.bootFiles),
      options.instant ? instantChains(dir, catalog, point, plan.disks) : undefined,
    );
    ctx.log.info(`resumed '${options.domain}' from the memory state of point ${point.id}`);
  }
  if (options.define) {
    await ctx.run(ctx.virsh.define(plan.xmlFile));
    ctx.log.info(`defined domain '${options.define}'`);
    const uuid = (await ctx.run(ctx.virsh.domUuid(options.define))).stdout.trim();
    if (!plan.resume) await placeTpm(ctx, dir, tpmFiles, uuid);
  } else if (tpmFiles.length > 0) {
    ctx.log.info(
      `the TPM state is in ${path.join(plan.to, "tpm")}: copy it to ${SWTPM_DIR}/<uuid>/ before the domain first starts`,
    );
  }
  if (options.instant && options.define && !plan.resume) {
    await ctx.run(ctx.virsh.start(options.define));
    ctx.log.info(
      `started '${options.define}' on overlays in ${plan.to}; 'virsh blockpull ${options.define} <disk> --wait' makes a disk independent of the repository`,
    );
  }
}
