/**
 * The artifacts of `npm run package` in dist/pkg/, checked to be those of the current bundle:
 * `npm run build` rewrites dist/pkg/virtsnap.cjs but leaves the .deb and the single executable,
 * and a test of a stale one would prove nothing about the code. Missing or stale fails, saying
 * to run `npm run package` (never a silent skip). Synchronous and libvirt-free: the unit tests
 * use it too.
 */

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const PKG = path.join(ROOT, "dist", "pkg");
const BUNDLE = path.join(PKG, "virtsnap.cjs");
const RUN = "run `npm run package` first";

function mustExist(file: string): string {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${RUN}`);
  return file;
}

/** dist/pkg/virtsnap_<version>_all.deb, whose bundle is dist/pkg/virtsnap.cjs. */
export function freshDeb(): string {
  const debs = fs.existsSync(PKG)
    ? fs.readdirSync(PKG).filter((f) => /^virtsnap_.*_all\.deb$/.test(f))
    : [];
  if (debs.length !== 1)
    throw new Error(
      `want exactly one ${PKG}/virtsnap_<version>_all.deb, found ${debs.length}: ${RUN}`,
    );
  const deb = path.join(PKG, debs[0] as string);
  const inside = execFileSync(
    "sh",
    ["-c", 'dpkg-deb --fsys-tarfile "$1" | tar -xO ./usr/lib/virtsnap/virtsnap.cjs', "sh", deb],
    { maxBuffer: 64 << 20 },
  );
  if (!inside.equals(fs.readFileSync(mustExist(BUNDLE))))
    throw new Error(`${deb} holds an older bundle than ${BUNDLE}: ${RUN}`);
  return deb;
}

/**
 * dist/pkg/virtsnap-linux-x64, built from the current bundle: scripts/build-sea writes its stamp,
 * "<node version> <sha256 of the bundle and of build-sea>", after each injection.
 */
export function freshSingleExecutable(): string {
  const exe = mustExist(path.join(PKG, "virtsnap-linux-x64"));
  const script = path.join(ROOT, "scripts", "build-sea");
  const node = /^NODE_VERSION=(\S+)$/m.exec(fs.readFileSync(script, "utf8"))?.[1];
  const sum = createHash("sha256")
    .update(fs.readFileSync(mustExist(BUNDLE)))
    .update(fs.readFileSync(script))
    .digest("hex");
  const stamp = path.join(PKG, ".virtsnap-linux-x64.stamp");
  const got = fs.existsSync(stamp) ? fs.readFileSync(stamp, "utf8").trim() : "none";
  if (got !== `${node} ${sum}`)
    throw new Error(`${exe} was not built from the current ${BUNDLE} (stamp ${got}): ${RUN}`);
  return exe;
}
