import fs from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { describeIoError } from "../errors.js";
import type { AuxFile, BootPaths, Domain, RestorePoint } from "../types.js";
import { commitHashed, commitPartial, exists, sha256File } from "./files.js";
import { PARTIAL } from "./paths.js";

/** libvirt keeps an emulated TPM's state here (qemu.conf's swtpm_storage_dir default). */
export const SWTPM_DIR = "/var/lib/libvirt/swtpm";

type BootKind = keyof BootPaths | "tpm";

interface Source {
  kind: BootKind;
  /** Absolute path on the host. */
  path: string;
  /** What the catalog records: the absolute path, or for tpm the path inside the state folder. */
  source: string;
}

/** What a domain needs to boot besides its disks, as files on this host (missing ones left out). */
async function bootSources(domain: Domain): Promise<Source[]> {
  const sources: Source[] = [];
  for (const [kind, file] of Object.entries(domain.boot) as [keyof BootPaths, string][]) {
    if (await exists(file)) sources.push({ kind, path: file, source: file });
  }
  if (domain.tpmEmulator && domain.uuid) {
    const stateDir = path.join(SWTPM_DIR, domain.uuid);
    const entries = await fs.readdir(stateDir, { recursive: true }).catch(() => [] as string[]);
    for (const entry of entries.sort()) {
      const file = path.join(stateDir, entry);
      // .lock is swtpm's own lock file: not state, and it must not travel.
      if (path.basename(entry) === ".lock" || !(await fs.stat(file)).isFile()) continue;
      sources.push({ kind: "tpm", path: file, source: entry });
    }
  }
  return sources;
}

/**
 * Copies the domain's boot files into the chain folder as `<kind>.<point>.<name>`, each written as
 * `.partial`, flushed and renamed. A file unchanged since the previous point of the chain is
 * hard-linked instead (a kernel rarely changes; an nvram store seldom does).
 */
export async function captureBootFiles(
  ctx: Context,
  domain: Domain,
  domainDir: string,
  chain: string,
  pointId: string,
  previous: RestorePoint | undefined,
): Promise<AuxFile[]> {
  const captured: AuxFile[] = [];
  for (const src of await bootSources(domain)) {
    const file = path.join(
      chain,
      `${src.kind}.${pointId}.${src.source.replace(/[/\\]/g, "_").replace(/^_+/, "")}`,
    );
    const absolute = path.join(domainDir, file);
    try {
      const sha256 = await sha256File(src.path);
      const same = previous?.files?.find(
        (f) => f.kind === src.kind && f.source === src.source && f.sha256 === sha256,
      );
      const linked = same && (await exists(path.join(domainDir, same.file)));
      if (same && linked) {
        await fs.link(path.join(domainDir, same.file), absolute + PARTIAL);
      } else {
        await fs.copyFile(src.path, absolute + PARTIAL);
      }
      // Hashed again: a file that changed during the copy must not keep the source's checksum.
      const copied = await commitHashed(absolute);
      captured.push({ kind: src.kind, file, ...copied, source: src.source });
      ctx.log.debug(`${src.kind}: ${src.path} -> ${file}${linked ? " (hard link)" : ""}`);
    } catch (error) {
      throw describeIoError(error, `cannot save ${src.kind} file ${src.path}`);
    }
  }
  return captured;
}

/** Where each of a point's boot files goes in a restore's `--to` folder. */
export function restoredBootPath(to: string, file: AuxFile, domainName: string): string {
  if (file.kind === "nvram") return path.join(to, `${domainName}_VARS.fd`);
  if (file.kind === "tpm") return path.join(to, "tpm", file.source ?? path.basename(file.file));
  return path.join(to, path.basename(file.source ?? file.file));
}

/** Copies a repository file out (never over an existing file), mode 0600, flushed. */
export async function writeBootFile(source: string, target: string): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  await fs.copyFile(source, target + PARTIAL, fs.constants.COPYFILE_EXCL);
  await commitPartial(target);
}

/**
 * Puts a point's TPM state where libvirt looks for the domain `uuid`, unless state is there
 * already (never overwritten). libvirt hands the files to swtpm's user when the domain starts.
 */
export async function placeTpmState(
  domainDir: string,
  files: AuxFile[],
  uuid: string,
): Promise<string | undefined> {
  const tpm = files.filter((f) => f.kind === "tpm");
  if (tpm.length === 0) return undefined;
  const stateDir = path.join(SWTPM_DIR, uuid);
  if (await exists(stateDir)) return undefined;
  for (const file of tpm) {
    const target = path.join(stateDir, file.source ?? path.basename(file.file));
    await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o711 });
    await writeBootFile(path.join(domainDir, file.file), target);
  }
  return stateDir;
}
