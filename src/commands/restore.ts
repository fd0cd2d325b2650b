import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "../context.js";
import { describeIoError, OperationError, UsageError } from "../errors.js";
import { JOURNAL_FILE, Journal } from "../journal.js";
import { checkNameIsFree } from "../libvirt/domain.js";
import { asNewDomain, withBootPaths, withDiskSources } from "../libvirt/domain-xml.js";
import { checkQemuReaches, letQemuReach, qemuIdentityOfHost } from "../libvirt/qemu-access.js";
import { lockDomain } from "../lock.js";
import { convertShowingProgress } from "../progress.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { placeTpmState, restoredBootPath, SWTPM_DIR, writeBootFile } from "../repo/boot-files.js";
import { findPoint } from "../repo/catalog.js";
import { exists, fsyncFile, makeWritableDir, writeFileAtomic } from "../repo/files.js";
import { domainXmlFile, PARTIAL } from "../repo/paths.js";
import type { AuxFile, BootPaths, ExcludedDisk, PointDisk, RestorePoint } from "../types.js";
import { existingRepo } from "./repo-access.js";
import { missingDisks, tellMissing } from "./restore-missing.js";

export interface RestoreOptions {
  domain: string;
  backupDir: string;
  point: string;
  to: string;
  format: "qcow2" | "raw";
  disks: string[] | undefined;
  /** Register the restored domain under this name (new uuid and MAC addresses). */
  define: string | undefined;
  /** Start it at once on overlays over the repository files instead of copies (needs `define`). */
  instant: boolean;
}

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
 * Reads the repository only; never writes over an existing file or an existing domain.
 */
export async function restore(ctx: Context, options: RestoreOptions): Promise<RestoreReport> {
  const { dir, catalog } = await existingRepo(options.backupDir, options.domain);
  const point = findPoint(catalog, options.point);
  if (!point)
    throw new UsageError(
      `no point '${options.point}' for '${options.domain}' (see 'virtsnap list ${options.domain}')`,
    );
  if (options.instant && options.format !== "qcow2")
    throw new UsageError("--instant runs on qcow2 overlays; leave out --format raw");
  if (options.instant && !options.define)
    throw new UsageError("--instant needs a name for the new domain: --instant NAME");
  if (options.define) await checkNameIsFree(ctx.run, ctx.virsh, options.define);
  const disks = pickDisks(point, options.disks);
  const memory = point.files?.find((f) => f.kind === "memory");
  // libvirt resumes saved RAM only under the domain's own name and uuid, with all its disks.
  const resume = memory !== undefined && options.define === options.domain && !options.disks;
  if (memory && options.define && !resume)
    ctx.log.warn(
      `point ${point.id} has the domain's memory state, but libvirt resumes it only under the name '${options.domain}' (once no domain of that name exists) with all disks; '${options.define}' boots from its disks instead`,
    );
  const to = path.resolve(options.to);
  const outputs = disks.map((d) => ({
    disk: d,
    file: path.join(to, `${d.target}.${options.format}`),
  }));
  const xmlFile = path.join(to, `${options.domain}.xml`);
  const sources = new Map(
    outputs.map((o) => [o.disk.target, { file: o.file, format: options.format }]),
  );
  // nvram, TPM state, kernel/initrd/dtb: written into `to` beside the disks.
  const newName = options.define ?? options.domain;
  const bootFiles = (point.files ?? [])
    .filter((f) => f.kind !== "memory")
    .map((f) => ({ aux: f, file: restoredBootPath(to, f, newName) }));

  for (const file of [...outputs.map((o) => o.file), ...bootFiles.map((b) => b.file), xmlFile]) {
    if (await exists(file))
      throw new UsageError(`${file} already exists; restore never overwrites files`);
  }
  // Only a folder this restore makes is virtsnap's to open up for QEMU; a user's keeps its modes.
  const toIsNew = !(await exists(to));
  await makeWritableDir(to).catch((error) => {
    throw describeIoError(error, `cannot write into ${to}`);
  });
  if (options.define) {
    // The new domain's QEMU opens the files in `to` (and, for --instant, the repository's).
    const host = (await ctx.run(ctx.virsh.capabilitiesOfHost())).stdout;
    const qemu = qemuIdentityOfHost(host);
    const why = "the restored domain's QEMU opens these files";
    if (toIsNew) await letQemuReach(qemu, [to], why);
    else await checkQemuReaches(qemu, to, why);
    if (options.instant) await letQemuReach(qemu, [dir, path.join(dir, point.chain)], why);
  }
  const release = await lockDomain(ctx.lockDir, ctx.uri, options.domain, "restore", ctx.log);
  let missing: ExcludedDisk[] = [];
  try {
    const journal = await Journal.open(
      path.join(dir, JOURNAL_FILE),
      { command: "restore", domain: options.domain, restoreTo: to },
      ctx.env,
    );
    await journal.step("write-disks");
    for (const { disk, file } of outputs) {
      const source = path.join(dir, disk.file);
      if (!(await exists(source)))
        throw new OperationError(`repository file ${source} is missing; run 'virtsnap verify'`);
      ctx.log.info(`disk ${disk.target}: ${options.instant ? "overlay" : "writing"} ${file}`);
      if (options.instant) await writeOverlay(ctx, source, file, disk.virtualSize);
      else await writeImage(ctx, source, file, options.format);
    }
    for (const { aux, file } of bootFiles) {
      ctx.log.info(`${aux.kind}: writing ${file}`);
      await writeBootFile(path.join(dir, aux.file), file);
    }
    const savedXml = await fs.readFile(
      path.join(dir, domainXmlFile(point.chain, point.id)),
      "utf8",
    );
    missing = await missingDisks(savedXml, point);
    tellMissing(ctx.log, point, missing);
    await journal.step("write-xml");
    // Disks not restored are left out: the XML must never point a new domain at a live image.
    const xml = await withBootPaths(
      await withDiskSources(savedXml, sources, { dropOtherDisks: true }),
      bootPaths(bootFiles),
    );
    const newDomain = options.define && !resume ? await asNewDomain(xml, options.define) : xml;
    await writeFileAtomic(xmlFile, newDomain);
    await journal.close();
  } finally {
    await release();
  }
  const tpmFiles = bootFiles.map((b) => b.aux).filter((f) => f.kind === "tpm");
  if (resume && memory) {
    await placeTpm(ctx, dir, tpmFiles, catalog.domain.uuid);
    await resumeFromMemory(ctx, path.join(dir, memory.file), sources, bootPaths(bootFiles));
    ctx.log.info(`resumed '${options.domain}' from the memory state of point ${point.id}`);
  }
  if (options.define) {
    await ctx.run(ctx.virsh.define(xmlFile));
    ctx.log.info(`defined domain '${options.define}'`);
    const uuid = (await ctx.run(ctx.virsh.domUuid(options.define))).stdout.trim();
    if (!resume) await placeTpm(ctx, dir, tpmFiles, uuid);
  } else if (tpmFiles.length > 0) {
    ctx.log.info(
      `the TPM state is in ${path.join(to, "tpm")}: copy it to ${SWTPM_DIR}/<uuid>/ before the domain first starts`,
    );
  }
  if (options.instant && options.define && !resume) {
    await ctx.run(ctx.virsh.start(options.define));
    ctx.log.info(
      `started '${options.define}' on overlays in ${to}; 'virsh blockpull ${options.define} <disk> --wait' makes a disk independent of the repository`,
    );
  }
  return {
    domain: options.domain,
    point: point.id,
    files: outputs.map((o) => ({ target: o.disk.target, file: o.file })),
    xml: xmlFile,
    ...(options.define ? { defined: options.define } : {}),
    started: options.instant || resume,
    resumed: resume,
    missing,
  };
}
function pickDisks(point: RestorePoint, targets: string[] | undefined): PointDisk[] {
  if (!targets) return point.disks;
  return targets.map((t) => {
    const disk = point.disks.find((d) => d.target === t);
    if (!disk)
      throw new UsageError(
        `point ${point.id} has no disk '${t}' (it has: ${point.disks.map((d) => d.target).join(", ")})`,
      );
    return disk;
  });
}

async function writeImage(
  ctx: Context,
  source: string,
  file: string,
  format: "qcow2" | "raw",
): Promise<void> {
  await writeIntoPlace(file, (partial) =>
    convertShowingProgress(ctx, qemuImg.convert(source, partial, format), path.basename(file)),
  );
}

/** A thin overlay whose backing is the repository file (absolute): QEMU only ever reads that one. */
async function writeOverlay(
  ctx: Context,
  source: string,
  file: string,
  virtualSize: number,
): Promise<void> {
  await writeIntoPlace(file, (partial) =>
    ctx.run(qemuImg.createOverlay(partial, source, "qcow2", String(virtualSize))),
  );
}

/** `produce` writes `<file>.partial`; it is flushed and renamed into place, or removed on any failure. */
async function writeIntoPlace(
  file: string,
  produce: (partial: string) => Promise<unknown>,
): Promise<void> {
  const partial = file + PARTIAL;
  try {
    await produce(partial);
    await fsyncFile(partial);
    await fs.rename(partial, file);
  } catch (error) {
    await fs.rm(partial, { force: true });
    throw error;
  }
}

/** `virsh restore` of the saved RAM, its XML (from the save image) pointed at the restored disks. */
async function resumeFromMemory(
  ctx: Context,
  memoryFile: string,
  sources: ReadonlyMap<string, { file: string; format: string }>,
  boot: BootPaths,
): Promise<void> {
  const saved = (await ctx.run(ctx.virsh.saveImageXml(memoryFile))).stdout;
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-"));
  try {
    const xml = path.join(tmp, "domain.xml");
    const moved = await withBootPaths(await withDiskSources(saved, sources), boot);
    await fs.writeFile(xml, moved, { mode: 0o600 });
    await ctx.run(ctx.virsh.restoreMemory(memoryFile, xml));
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

function bootPaths(files: { aux: AuxFile; file: string }[]): BootPaths {
  return Object.fromEntries(
    files.filter((b) => b.aux.kind !== "tpm").map((b) => [b.aux.kind, b.file]),
  ) as BootPaths;
}

/** The point's TPM state, for the domain that now has `uuid` (never over existing state). */
async function placeTpm(ctx: Context, repoDir: string, files: AuxFile[], uuid: string) {
  const placed = await placeTpmState(repoDir, files, uuid);
  if (placed) ctx.log.info(`TPM state restored into ${placed}`);
  else if (files.length > 0)
    ctx.log.warn(`${SWTPM_DIR}/${uuid} exists already: its TPM state was left as it is`);
}
