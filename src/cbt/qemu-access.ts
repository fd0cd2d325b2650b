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

/**
 * In push mode QEMU itself opens the target files (libvirt lends it each file for the job). It must
 * be able to walk to them: virtsnap's own folders get QEMU's group with search-only access (0710,
 * nothing can be listed), and the folders above must already allow it, or the run stops here.
 */
export async function letQemuReach(
  liveXml: string,
  domainDir: string,
  chainDir: string,
): Promise<void> {
  const who = qemuIdentity(liveXml);
  if (!who || who.uid === 0) return;
  for (const dir of [domainDir, chainDir]) {
    await fs.chown(dir, -1, who.gid);
    await fs.chmod(dir, 0o710);
  }
  for (let dir = path.dirname(domainDir); ; dir = path.dirname(dir)) {
    if (!canSearch(await fs.stat(dir), who)) {
      throw new OperationError(
        `QEMU (uid ${who.uid}) cannot reach ${dir}, and in cbt mode QEMU writes the backup files itself: allow it with 'chmod o+x ${dir}' or use --mode snapshot`,
      );
    }
    if (path.dirname(dir) === dir) break;
  }
}
