import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { describeIoError, OperationError, UsageError } from "../errors.js";
import { JOURNAL_FILE, Journal } from "../journal.js";
import { withDiskSources } from "../libvirt/domain-xml.js";
import { lockDomain } from "../lock.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { findPoint } from "../repo/catalog.js";
import { exists, fsyncFile, makeWritableDir, writeFileAtomic } from "../repo/files.js";
import { domainXmlFile, PARTIAL } from "../repo/paths.js";
import type { PointDisk, RestorePoint } from "../types.js";
import { existingRepo } from "./repo-access.js";

export interface RestoreOptions {
  domain: string;
  backupDir: string;
  point: string;
  to: string;
  format: "qcow2" | "raw";
  disks: string[] | undefined;
}

export interface RestoreReport {
  domain: string;
  point: string;
  files: { target: string; file: string }[];
  xml: string;
}

/**
 * Writes each disk of a point as a standalone image into `to`, plus the domain XML pointing at them.
 * Reads the repository only; never writes over an existing file. The XML keeps the original name and
 * uuid: defining it as is replaces the original domain's definition.
 */
export async function restore(ctx: Context, options: RestoreOptions): Promise<RestoreReport> {
  const { dir, catalog } = await existingRepo(options.backupDir, options.domain);
  const point = findPoint(catalog, options.point);
  if (!point)
    throw new UsageError(
      `no point '${options.point}' for '${options.domain}' (see 'virtsnap list ${options.domain}')`,
    );
  const disks = pickDisks(point, options.disks);
  const to = path.resolve(options.to);
  const outputs = disks.map((d) => ({
    disk: d,
    file: path.join(to, `${d.target}.${options.format}`),
  }));
  const xmlFile = path.join(to, `${options.domain}.xml`);
  for (const file of [...outputs.map((o) => o.file), xmlFile]) {
    if (await exists(file))
      throw new UsageError(`${file} already exists; restore never overwrites files`);
  }
  await makeWritableDir(to).catch((error) => {
    throw describeIoError(error, `cannot write into ${to}`);
  });
  const release = await lockDomain(ctx.lockDir, ctx.uri, options.domain, "restore", ctx.log);
  try {
    const journal = await Journal.open(
      path.join(dir, JOURNAL_FILE),
      { command: "restore", domain: options.domain, restoreTo: to },
      ctx.env,
    );
    await journal.step("write-disks");
    for (const { disk, file } of outputs) {
      ctx.log.info(`disk ${disk.target}: writing ${file}`);
      await writeImage(ctx, path.join(dir, disk.file), file, options.format);
    }
    const savedXml = await fs.readFile(
      path.join(dir, domainXmlFile(point.chain, point.id)),
      "utf8",
    );
    const sources = new Map(
      outputs.map((o) => [o.disk.target, { file: o.file, format: options.format }]),
    );
    await journal.step("write-xml");
    // Disks not restored are left out: the XML must never point a new domain at a live image.
    await writeFileAtomic(
      xmlFile,
      await withDiskSources(savedXml, sources, { dropOtherDisks: true }),
    );
    await journal.close();
  } finally {
    await release();
  }
  return {
    domain: options.domain,
    point: point.id,
    files: outputs.map((o) => ({ target: o.disk.target, file: o.file })),
    xml: xmlFile,
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
  if (!(await exists(source)))
    throw new OperationError(`repository file ${source} is missing; run 'virtsnap verify'`);
  const partial = file + PARTIAL;
  try {
    await ctx.run(qemuImg.convert(source, partial, format), { signal: ctx.signal });
    await fsyncFile(partial);
    await fs.rename(partial, file);
  } catch (error) {
    await fs.rm(partial, { force: true });
    throw error;
  }
}
