import fs from "node:fs";
import path from "node:path";
import { CommandError, EXIT, exitCodeFor, isExpected } from "./errors.js";

/** What the user is told about an error: one line, the documented exit code, and whether it is a bug. */
export interface Explained {
  message: string;
  exitCode: number;
  /** Not an error virtsnap knows: the CLI shows the stack, for a bug report. */
  bug: boolean;
}

export interface Circumstances {
  /** The libvirt URI the run used, to name it in a connection failure. */
  uri: string;
  /** The process's uid (undefined off POSIX): a permission problem of a non-root user is theirs to fix. */
  uid: number | undefined;
  /** Whether a path is an existing non-directory (injectable for tests). */
  isFile?: (file: string) => boolean;
}

const RUN_AS_ROOT = "run virtsnap as root (e.g. sudo virtsnap ...)";

/**
 * Turns any error into the line a user reads. Node's own I/O errors (ENOTDIR, EACCES, ...) and
 * libvirt's connection failures are expected conditions with a next step, not bugs: they get one
 * line saying what to do, never a stack trace.
 */
export function explain(error: unknown, how: Circumstances): Explained {
  const connection = connectionFailure(error, how);
  if (connection) return connection;
  const denied = deniedProgram(error, how);
  if (denied) return denied;
  if (isExpected(error)) return expected(firstLine((error as Error).message), exitCodeFor(error));
  const io = ioFailure(error, how);
  if (io) return io;
  const message = error instanceof Error ? error.message : String(error);
  return { message: firstLine(message), exitCode: EXIT.failure, bug: true };
}

function expected(message: string, exitCode: number): Explained {
  return { message, exitCode, bug: false };
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

/** virsh says "failed to connect to the hypervisor" first, then libvirt's reason. */
function connectionFailure(error: unknown, how: Circumstances): Explained | undefined {
  if (
    !(error instanceof CommandError) ||
    !/failed to connect to the hypervisor/i.test(error.stderr)
  )
    return undefined;
  const reasons = error.stderr
    .split("\n")
    .map((l) => l.replace(/^error:\s*/i, "").trim())
    .filter((l) => l && !/failed to connect to the hypervisor/i.test(l));
  // libvirt tags many of its messages "internal error:", which would read like a bug in virtsnap.
  const reason = (reasons.at(-1) ?? "no reason given").replace(/^internal error:\s*/i, "");
  const root = isRoot(how);
  const head = `cannot connect to libvirt at ${how.uri}: ${reason}`;
  if (/Cannot create user runtime directory/i.test(reason))
    return expected(
      `${head}; a session URI needs a HOME this user can write (or ${RUN_AS_ROOT} with -c qemu:///system)`,
      EXIT.usage,
    );
  // As a non-root user, qemu:///system asks polkit over D-Bus (here: no system bus) or is refused
  // by the socket's mode; both mean "not allowed", which root is.
  if (
    !root &&
    /system bus|Permission denied|authentication|not authorized|access denied/i.test(reason)
  )
    return expected(`${head}; ${RUN_AS_ROOT}`, EXIT.usage);
  if (/Failed to connect socket to .*(No such file|Connection refused)/i.test(reason))
    return expected(
      `${head}; is libvirtd (or virtqemud) running, and is -c (or LIBVIRT_DEFAULT_URI) right?`,
      EXIT.failure,
    );
  return expected(
    `${head}; check -c (or LIBVIRT_DEFAULT_URI) and that libvirtd runs`,
    EXIT.failure,
  );
}

/** qemu-img or virsh refused a file as a user who is not root (root's images are 0600). */
function deniedProgram(error: unknown, how: Circumstances): Explained | undefined {
  if (!(error instanceof CommandError) || isRoot(how) || !/Permission denied/i.test(error.stderr))
    return undefined;
  return expected(`${firstLine(error.message)}; ${RUN_AS_ROOT}`, EXIT.usage);
}

function isRoot(how: Circumstances): boolean {
  return how.uid === undefined || how.uid === 0;
}

/** Node's errno errors carry the path; say which part of it is wrong. */
function ioFailure(error: unknown, how: Circumstances): Explained | undefined {
  const err = error as NodeJS.ErrnoException;
  if (!(error instanceof Error) || typeof err.code !== "string" || !err.syscall) return undefined;
  const file = err.path ?? "";
  if (err.code === "ENOTDIR") {
    const isFile = how.isFile ?? existingNonDirectory;
    const blocker = ancestors(file).find(isFile) ?? file;
    return expected(`${blocker} is a file, not a folder (check -b or the path given)`, EXIT.usage);
  }
  if (err.code === "EACCES" || err.code === "EPERM") {
    if (!isRoot(how))
      return expected(
        `permission denied: ${file}; ${RUN_AS_ROOT}, or as the user who owns it`,
        EXIT.usage,
      );
    return expected(`permission denied: ${file} (${err.syscall})`, EXIT.failure);
  }
  const reason = err.message.replace(/^\w+: /, "");
  return expected(`${err.code}: ${reason}`, EXIT.failure);
}

/** /a/b/c -> [/a, /a/b, /a/b/c]: the first that is a file is what stops the path. */
function ancestors(file: string): string[] {
  if (!file) return [];
  const out: string[] = [];
  for (let p = path.resolve(file); p !== path.dirname(p); p = path.dirname(p)) out.unshift(p);
  return out;
}

function existingNonDirectory(file: string): boolean {
  try {
    return !fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}
