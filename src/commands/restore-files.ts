// The files a restore writes into --to: each one as .partial, flushed and renamed, and all of them
// removed again when the restore fails half-way.
import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { convertShowingProgress } from "../progress.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { exists, fsyncFile } from "../repo/files.js";
import { PARTIAL } from "../repo/paths.js";

export async function writeImage(
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
export async function writeOverlay(
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

/** The highest folder of `dir`'s path that does not exist yet (`dir` itself, or a parent), if any. */
export async function firstMissingDir(dir: string): Promise<string | undefined> {
  let missing: string | undefined;
  for (let d = dir; !(await exists(d)) && path.dirname(d) !== d; d = path.dirname(d)) missing = d;
  return missing;
}

/**
 * A restore that failed leaves nothing in --to: the folders it made go entirely; in a folder that
 * existed, only the files it wrote (and their .partial) go.
 */
export async function removeRestored(
  to: string,
  made: string | undefined,
  files: string[],
): Promise<void> {
  if (made) {
    await fs.rm(made, { recursive: true, force: true });
    return;
  }
  for (const file of files) {
    await fs.rm(file, { force: true });
    await fs.rm(file + PARTIAL, { force: true });
  }
  // Folders made inside it (tpm/) go too when that leaves them empty.
  for (const sub of new Set(files.map((f) => path.dirname(f)))) {
    if (sub !== to) await fs.rmdir(sub).catch(() => {});
  }
}
