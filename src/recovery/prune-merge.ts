// One disk of one prune merge, and the bookkeeping of the files it renames and relinks.
import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { OperationError } from "../errors.js";
import type { Cmd } from "../exec.js";
import type { Journal } from "../journal.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { exists, fsyncDir } from "../repo/files.js";
import { levelOfFile } from "../repo/paths.js";
import type { Merge } from "../repo/retention.js";
import type { RestorePoint } from "../types.js";

/** The removed points' files a kept point's disk reads through, newest first, and the kept file below them. */
export function absorbedFiles(
  point: RestorePoint,
  target: string,
  byId: Map<string, RestorePoint>,
  removed: Set<string>,
): { files: string[]; base: string | undefined } {
  const files: string[] = [];
  let current = point;
  for (;;) {
    const disk = current.disks.find((d) => d.target === target);
    if (!disk || levelOfFile(disk.file) === "full" || current.parent === null)
      return { files, base: undefined };
    const parent = byId.get(current.parent) as RestorePoint;
    const parentDisk = parent.disks.find((d) => d.target === target);
    if (!parentDisk)
      throw new OperationError(`point ${parent.id} has no disk ${target} for ${current.id}`);
    if (!removed.has(parent.id)) return { files, base: parentDisk.file };
    files.push(parentDisk.file);
    current = parent;
  }
}

/** What one disk of one merge changes: the kept point's file, its new name, what it absorbs. */
export interface DiskMerge {
  how: Merge["how"];
  file: string;
  newFile: string;
  /** The removed points' files, newest first. */
  absorbed: string[];
  /** The kept file below them (rebase), if any. */
  base: string | undefined;
  /** Files of the kept point's children that link to `file`. */
  children: string[];
}

/** The qemu-img run that moves the data (fold: commit down; rebase: copy up), by absolute paths. */
export function mergeCommand(files: Repointer, m: DiskMerge): Cmd {
  const abs = files.abs;
  if (m.how === "fold") return qemuImg.commit(abs(m.file), abs(m.absorbed.at(-1) as string));
  return qemuImg.rebaseSafe(abs(m.file), m.base ? path.basename(m.base) : "", "qcow2");
}

/**
 * One disk of one merge. fold: commit the kept file down into the oldest absorbed file (the kept
 * point's content never changes while that runs), which then replaces it. rebase: copy the
 * absorbed data up into the kept file in place (again without changing its content).
 */
export async function mergeDisk(
  ctx: Context,
  files: Repointer,
  m: DiskMerge,
  journal: Journal<"prune">,
): Promise<void> {
  const abs = files.abs;
  const oldest = m.absorbed.at(-1) as string;
  if (m.how === "fold" && (await exists(abs(oldest)))) {
    await ctx.run(mergeCommand(files, m));
    await journal.step("rename");
    await fs.rename(abs(oldest), abs(m.newFile));
  } else if (m.how === "rebase" && (await exists(abs(m.file)))) {
    await ctx.run(mergeCommand(files, m));
    await journal.step("rename");
    if (m.newFile !== m.file) await fs.rename(abs(m.file), abs(m.newFile));
  } else if (!(await exists(abs(m.newFile)))) {
    throw new OperationError(`cannot finish merging ${m.file}: ${m.newFile} is missing`);
  }
  await fsyncDir(path.dirname(abs(m.newFile)));
  files.moved(m.file, m.newFile);
  if (m.newFile === m.file) return;
  for (const child of m.children) {
    const current = files.current(child);
    if (!(await exists(abs(current)))) continue;
    await ctx.run(qemuImg.relink(abs(current), path.basename(m.newFile), "qcow2"));
    files.relinked.add(current);
  }
  await fs.rm(abs(m.file), { force: true });
}

/** Repository files by their path relative to the domain's folder, following renames made so far. */
export class Repointer {
  private readonly renamed = new Map<string, string>();
  /** Files whose header got a new backing link: their checksums change too. */
  readonly relinked = new Set<string>();
  constructor(private readonly dir: string) {}
  abs = (file: string) => path.join(this.dir, file);
  moved(from: string, to: string) {
    if (from !== to) this.renamed.set(from, to);
  }
  current(file: string): string {
    return this.renamed.get(file) ?? file;
  }
}
