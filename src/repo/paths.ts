import path from "node:path";
import type { Level } from "../types.js";

/** Where a domain's restore points live: DIR/<domain>/ (DESIGN.md, "The repository"). */
export function domainDir(backupDir: string, domain: string): string {
  return path.join(backupDir, domain);
}

export const CATALOG_FILE = "virtsnap.json";
/** The last backup run's outcome, for monitoring (not part of the catalog). */
export const STATUS_FILE = "status.json";

/** The repository file of one disk at one point, relative to the domain's folder. */
export function pointFile(chain: string, target: string, pointId: string, level: Level): string {
  return path.join(chain, `${target}.${pointId}.${level}.qcow2`);
}

/** The level a point file was written at, from its name (a point's disks can differ: a new disk starts full). */
export function levelOfFile(file: string): Level {
  const level = /\.(full|inc|diff|copy)\.qcow2$/.exec(file)?.[1];
  if (!level) throw new Error(`not a point file: ${file}`);
  return level as Level;
}

/** backup --memory-state: the saved RAM of a running domain (libvirt's save-image format). */
export function memoryFile(chain: string, pointId: string): string {
  return path.join(chain, `memory.${pointId}.save`);
}

export function domainXmlFile(chain: string, pointId: string): string {
  return path.join(chain, `domain.${pointId}.xml`);
}

export const PARTIAL = ".partial";
/** A point file being rewritten compressed (cbt --compress); repair deletes it like any partial. */
export const COMPRESSING = ".compressing.partial";

/** A point id is a UTC timestamp YYYYMMDDTHHMMSSZ (DESIGN.md). */
export function pointIdOf(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
}

export function dateOfPointId(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(id);
  if (!m) throw new Error(`not a point id: ${id}`);
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second));
}

export function isPointId(id: string): boolean {
  return /^\d{8}T\d{6}Z$/.test(id);
}

/** A new id strictly after every existing one, so ids stay unique and sorted even within a second. */
export function nextPointId(now: Date, existing: readonly string[]): string {
  let id = pointIdOf(now);
  const last = existing.at(-1);
  if (last !== undefined && id <= last)
    id = pointIdOf(new Date(dateOfPointId(last).getTime() + 1000));
  return id;
}
