// The files a restore writes into --to: each one as .partial, flushed and renamed, and all of them
// removed again when the restore fails half-way.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context } from "../context.js";
import {
  withBootPaths,
  withDiskSources,
  withReadOnlyBackingChains,
} from "../libvirt/domain-xml.js";
import { convertShowingProgress } from "../progress.js";
import { qemuImg } from "../qemu/qemu-img.js";
import { placeTpmState, SWTPM_DIR } from "../repo/boot-files.js";
import { exists, fsyncFile, takesDirectIo } from "../repo/files.js";
import { PARTIAL } from "../repo/paths.js";
import type { AuxFile, BootPaths } from "../types.js";

export async function writeImage(
  ctx: Context,
  source: string,
  file: string,
  format: "qcow2" | "raw",
): Promise<void> {
  await writeIntoPlace(file, async (partial) => {
    const direct = await takesDirectIo(partial, ctx.log);
    const convert = qemuImg.convert(source, partial, format, direct);
    await convertShowingProgress(ctx, convert, path.basename(file));
  });
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

/** `virsh restore` of the saved RAM, its XML (from the save image) pointed at the restored disks. */
export async function resumeFromMemory(
  ctx: Context,
  memoryFile: string,
  sources: ReadonlyMap<string, { file: string; format: string }>,
  boot: BootPaths,
  /** --instant: the repository layers under each overlay, never relabelled. */
  chains: ReadonlyMap<string, string[]> | undefined,
): Promise<void> {
  const saved = (await ctx.run(ctx.virsh.saveImageXml(memoryFile))).stdout;
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "virtsnap-"));
  try {
    const xml = path.join(tmp, "domain.xml");
    const pointed = await withBootPaths(await withDiskSources(saved, sources), boot);
    const moved = chains ? await withReadOnlyBackingChains(pointed, chains) : pointed;
    await fs.writeFile(xml, moved, { mode: 0o600 });
    await ctx.run(ctx.virsh.restoreMemory(memoryFile, xml));
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

export function bootPaths(files: { aux: AuxFile; file: string }[]): BootPaths {
  return Object.fromEntries(
    files.filter((b) => b.aux.kind !== "tpm").map((b) => [b.aux.kind, b.file]),
  ) as BootPaths;
}

/** The point's TPM state, for the domain that now has `uuid` (never over existing state). */
export async function placeTpm(ctx: Context, repoDir: string, files: AuxFile[], uuid: string) {
  const placed = await placeTpmState(repoDir, files, uuid);
  if (placed) ctx.log.info(`TPM state restored into ${placed}`);
  else if (files.length > 0)
    ctx.log.warn(`${SWTPM_DIR}/${uuid} exists already: its TPM state was left as it is`);
}
