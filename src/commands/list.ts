import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { UsageError } from "../errors.js";
import { existingRepo } from "../repo/access.js";
import { readCatalog } from "../repo/catalog.js";
import type { RestorePoint } from "../types.js";

export interface ListOptions {
  domain: string | undefined;
  backupDir: string;
}

export interface DomainPoints {
  domain: string;
  points: RestorePoint[];
}

/** `list DOMAIN`: that domain's points, oldest first. `list`: every domain in the backup dir. */
export async function list(ctx: Context, options: ListOptions): Promise<DomainPoints[]> {
  if (options.domain !== undefined) {
    const { catalog } = await existingRepo(options.backupDir, options.domain);
    return [{ domain: options.domain, points: catalog.points }];
  }
  let entries: string[];
  try {
    entries = (await fs.readdir(options.backupDir)).sort();
  } catch (error) {
    // A file or a folder the user may not read is told as such (failure.ts), not as missing.
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw new UsageError(`backup dir ${options.backupDir} does not exist`);
  }
  const result: DomainPoints[] = [];
  for (const name of entries) {
    try {
      const catalog = await readCatalog(path.join(options.backupDir, name));
      if (catalog) result.push({ domain: name, points: catalog.points });
    } catch (error) {
      ctx.log.warn(`${name}: ${(error as Error).message}`);
    }
  }
  return result;
}
