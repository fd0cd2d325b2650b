import type { Context } from "../context.js";
import { createRunner } from "../exec.js";
import { virsh } from "../libvirt/virsh.js";
import { defaultLockDir } from "../lock.js";
import { createLog, type Level } from "../log.js";
import { NO_PROGRESS } from "../progress.js";
import { terminalProgress } from "./terminal-progress.js";

/** The options every command takes (before the command's name). */
export interface GlobalOptions {
  connect?: string;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
}

/** A command's context, and the signal that stopped it, if one did. */
export interface Session {
  ctx: Context;
  stoppedBy(): NodeJS.Signals | undefined;
  /** Stops listening for signals (the command is over). */
  close(): void;
}

export function levelOf(global: GlobalOptions): Level {
  return global.quiet ? "warn" : global.verbose ? "debug" : "info";
}

export function uriOf(global: GlobalOptions, env: NodeJS.ProcessEnv): string {
  return global.connect ?? env.LIBVIRT_DEFAULT_URI ?? "qemu:///system";
}

/**
 * The one place a command's outside world is built from the process: log and progress bar on
 * stderr, the runner, virsh, the clock, and SIGINT/SIGTERM turned into ctx.signal.
 */
export function openSession(global: GlobalOptions): Session {
  const tty = Boolean(process.stderr.isTTY);
  const progress =
    tty && !global.quiet ? terminalProgress((text) => process.stderr.write(text)) : NO_PROGRESS;
  const log = createLog({
    level: levelOf(global),
    write: (line) => {
      progress.clear();
      process.stderr.write(`${line}\n`);
    },
    tty,
  });
  const uri = uriOf(global, process.env);
  const abort = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // The clean-up is not cancellable: a second Ctrl-C only says what is going on.
    log.error(
      `${signal}: ${stoppedBy ? "still cleaning up; virtsnap exits when that is done" : "stopping; cleaning up first"}`,
    );
    stoppedBy ??= signal;
    abort.abort();
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  const ctx: Context = {
    run: createRunner(log),
    log,
    virsh: virsh(uri),
    uri,
    lockDir: defaultLockDir(process.env),
    now: clock(process.env),
    env: process.env,
    signal: abort.signal,
    progress,
  };
  return {
    ctx,
    stoppedBy: () => stoppedBy,
    close: () => process.off("SIGINT", onSignal).off("SIGTERM", onSignal),
  };
}

/**
 * Test hook: VIRTSNAP_TEST_NOW=<ISO time> starts the clock there (point ids over a simulated
 * calendar); it runs on from that instant.
 */
export function clock(env: NodeJS.ProcessEnv): () => Date {
  const start = env.VIRTSNAP_TEST_NOW ? Date.parse(env.VIRTSNAP_TEST_NOW) : Number.NaN;
  if (Number.isNaN(start)) return () => new Date();
  const offset = start - Date.now();
  return () => new Date(Date.now() + offset);
}
