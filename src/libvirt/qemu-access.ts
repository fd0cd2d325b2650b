import fs from "node:fs/promises";
import path from "node:path";
import { OperationError } from "../errors.js";

/** The uid:gid QEMU runs as, from the live XML's DAC label (<seclabel model='dac'><label>+U:+G</label>). */
export function qemuIdentity(liveXml: string): { uid: number; gid: number } | undefined {
  const dac = /<seclabel[^>]*model='dac'[^>]*>\s*<label>\+(\d+):\+(\d+)<\/label>/.exec(liveXml);
  return dac ? { uid: Number(dac[1]), gid: Number(dac[2]) } : undefined;
}

function canSearch(
  stat: { uid: number; gid: number; mode: number },
  who: { uid: number; gid: number },
): boolean {
  if (stat.uid === who.uid) return (stat.mode & 0o100) !== 0;
  if (stat.gid === who.gid) return (stat.mode & 0o010) !== 0;
  return (stat.mode & 0o001) !== 0;
}

/** The same from the host capabilities (<secmodel> dac <baselabel type='qemu'>), before any domain runs. */
export function qemuIdentityOfHost(
  capabilitiesXml: string,
): { uid: number; gid: number } | undefined {
  const label = /<baselabel type='qemu'>\+(\d+):\+(\d+)<\/baselabel>/.exec(capabilitiesXml);
  return label ? { uid: Number(label[1]), gid: Number(label[2]) } : undefined;
}

/**
 * QEMU itself opens repository files in two cases: cbt's push-mode targets, and the backing files
 * of an instant recovery. It must be able to walk to them: virtsnap's own folders get QEMU's group
 * with search-only access (0710, nothing can be listed), and the folders above must already allow
 * it, or the run stops here. `why` ends the error message.
 */
export async function letQemuReach(
  who: { uid: number; gid: number } | undefined,
  ownDirs: string[],
  why: string,
): Promise<void> {
  if (!who || who.uid === 0) return;
  for (const dir of ownDirs) {
    await fs.chown(dir, -1, who.gid);
    await fs.chmod(dir, 0o710);
  }
  const top = ownDirs[0];
  if (top !== undefined) await checkQemuReaches(who, path.dirname(top), why);
}

/** For a folder that is not virtsnap's to change (a user's): QEMU must already be able to walk to it and into it. */
export async function checkQemuReaches(
  who: { uid: number; gid: number } | undefined,
  target: string,
  why: string,
): Promise<void> {
  if (!who || who.uid === 0) return;
  for (let dir = target; ; dir = path.dirname(dir)) {
    if (!canSearch(await fs.stat(dir), who)) {
      throw new OperationError(
        `QEMU (uid ${who.uid}) cannot reach ${dir}: allow it with 'chmod o+x ${dir}' (${why})`,
      );
    }
    if (path.dirname(dir) === dir) break;
  }
}
