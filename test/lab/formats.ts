/** Catalog formats as the tests see them: format 2's digest computed here, and format 1 as main wrote it. */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { sha256 } from "./lab.js";

const BLOCK = 4 * 1024 * 1024;

/** README's definition of `sha256-4m:`, computed here rather than by virtsnap's code. */
export async function blockDigestOf(file: string): Promise<string> {
  const data = await fs.readFile(file);
  const outer = createHash("sha256");
  for (let at = 0; at < data.length; at += BLOCK)
    outer.update(
      createHash("sha256")
        .update(data.subarray(at, at + BLOCK))
        .digest(),
    );
  return `sha256-4m:${outer.digest("hex")}`;
}

interface CatalogDisk {
  file: string;
  sha256?: string;
  digest?: string;
}

interface CatalogDoc {
  format: number;
  points: { disks: CatalogDisk[] }[];
}

export function catalogFile(backupDir: string, domain: string): string {
  return path.join(backupDir, domain, "virtsnap.json");
}

export async function readCatalogDoc(backupDir: string, domain: string): Promise<CatalogDoc> {
  return JSON.parse(await fs.readFile(catalogFile(backupDir, domain), "utf8")) as CatalogDoc;
}

/**
 * Rewrites a catalog the way main's code (format 1) wrote it: `"format": 1` and each disk's
 * whole-file sha256 where format 2 has its digest, the key in the same place, 2-space JSON.
 */
export async function writeAsFormat1(backupDir: string, domain: string): Promise<void> {
  const doc = await readCatalogDoc(backupDir, domain);
  doc.format = 1;
  for (const point of doc.points) {
    point.disks = await Promise.all(
      point.disks.map(async (disk) => {
        const entries = Object.entries(disk).filter(([key]) => key !== "digest");
        const at = Object.keys(disk).indexOf("digest");
        const sum = await sha256(path.join(backupDir, domain, disk.file));
        entries.splice(at < 0 ? entries.length : at, 0, ["sha256", sum]);
        return Object.fromEntries(entries) as unknown as CatalogDisk;
      }),
    );
  }
  await fs.writeFile(catalogFile(backupDir, domain), `${JSON.stringify(doc, null, 2)}\n`, {
    mode: 0o600,
  });
}

/** XORs one byte of the file (an odd spot, well inside), twice puts it back. */
export async function flipByte(file: string): Promise<void> {
  const handle = await fs.open(file, "r+");
  try {
    const { size } = await handle.stat();
    const at = size - 4096 - 7;
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = (byte[0] ?? 0) ^ 0xff;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}
