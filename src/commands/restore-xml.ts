// The domain XML a restore writes into --to.
import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import {
  asNewDomain,
  withBootPaths,
  withDiskSources,
  withReadOnlyBackingChains,
} from "../libvirt/domain-xml.js";
import { withOwnPaths } from "../libvirt/own-paths.js";
import { layersOf } from "../repo/integrity.js";
import { domainXmlFile } from "../repo/paths.js";
import type { AuxFile, Catalog, PointDisk, RestorePoint } from "../types.js";
import { bootPaths } from "./restore-files.js";

interface XmlPlan {
  disks: PointDisk[];
  sources: ReadonlyMap<string, { file: string; format: string }>;
  bootFiles: { aux: AuxFile; file: string }[];
  to: string;
  resume: boolean;
}

/**
 * The point's XML with the restored disks and boot files. Disks not restored are left out: the XML
 * must never point a new domain at a live image. A new domain (--define) also gets its own
 * per-domain paths, and an --instant one its repository layers, read-only for QEMU.
 */
export async function restoredXml(
  ctx: Context,
  options: { define: string | undefined; instant: boolean },
  dir: string,
  catalog: Catalog,
  point: RestorePoint,
  plan: XmlPlan,
): Promise<string> {
  const saved = await fs.readFile(path.join(dir, domainXmlFile(point.chain, point.id)), "utf8");
  const xml = await withBootPaths(
    await withDiskSources(saved, plan.sources, { dropOtherDisks: true }),
    bootPaths(plan.bootFiles),
  );
  let out = xml;
  if (options.define && !plan.resume) {
    const own = await withOwnPaths(await asNewDomain(xml, options.define), plan.to);
    for (const warning of own.warnings) ctx.log.warn(`${options.define}: ${warning}`);
    out = own.xml;
  }
  return options.instant
    ? withReadOnlyBackingChains(out, instantChains(dir, catalog, point, plan.disks))
    : out;
}

/** Per restored disk, the repository layers under its --instant overlay, top first. */
export function instantChains(
  dir: string,
  catalog: Catalog,
  point: RestorePoint,
  disks: PointDisk[],
) {
  return new Map(
    disks.map((d) => [
      d.target,
      layersOf(catalog, point, d).map((l) => path.join(dir, l.disk.file)),
    ]),
  );
}
