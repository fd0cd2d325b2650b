/**
 * The other test hosts (test/hosts/*.sh): the packaged artifacts of `npm run package`, a Debian 12
 * root with Debian's nodejs 18 for the .deb, and the Debian 11 legacy host (libvirt 7.0, QEMU 5.2).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { freshDeb, freshSingleExecutable } from "./artifacts.js";
import { must, type Result } from "./lab.js";

export const PROJECT = fileURLToPath(new URL("../../../", import.meta.url));
export const LAB_DIR = process.env.VIRTSNAP_LAB_DIR ?? "/srv/virtsnap-lab";
export const BULLSEYE = path.join(LAB_DIR, "bullseye");
export const BOOKWORM = path.join(LAB_DIR, "bookworm-node18");
/** Bound at the same path into the bookworm root: backups and restores of tests run there. */
export const LAB_WORK = path.join(LAB_DIR, "work");
const CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A missing or stale artifact fails the test (never a silent skip): it says how to make it. */
export const singleExecutable = freshSingleExecutable;
export const debPackage = freshDeb;

/** One of test/hosts/*.sh; a failure is a broken lab. */
export function hostScript(name: string, ...args: string[]): Promise<string> {
  return must("bash", [path.join(PROJECT, "test", "hosts", name), ...args]);
}

/** A program inside a root, in a clean environment (no host PATH, so no host node). */
export async function inRoot(
  root: string,
  file: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Result> {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const clean = [`PATH=${CLEAN_PATH}`, "HOME=/root", "LC_ALL=C", ...vars];
  const r = await execa("chroot", [root, "env", "-i", ...clean, file, ...args], {
    reject: false,
    extendEnv: false,
    stdin: "ignore",
  });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

export async function mustInRoot(root: string, file: string, args: string[]): Promise<string> {
  const r = await inRoot(root, file, args);
  if (r.exitCode !== 0)
    throw new Error(`${file} ${args.join(" ")} in ${root} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout;
}

/** Runs a program with exactly this environment and nothing of the test process's. */
export async function bare(
  file: string,
  args: string[],
  env: Record<string, string>,
): Promise<Result> {
  const r = await execa(file, args, { reject: false, extendEnv: false, env, stdin: "ignore" });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}
