import type { Run } from "./exec.js";
import type { Virsh } from "./libvirt/virsh.js";
import type { Log } from "./log.js";

/** Everything a command needs from the outside world, passed explicitly (only src/cli/ reads process.*). */
export interface Context {
  run: Run;
  log: Log;
  virsh: Virsh;
  uri: string;
  lockDir: string;
  now: () => Date;
  /** The process environment (fail points); only src/cli/ fills it from process.env. */
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM: long copies stop, clean-up steps still run. */
  signal: AbortSignal;
  /** A bar on a terminal, nothing elsewhere. */
  progress: Progress;
}

/**
 * One progress bar on stderr, only on a terminal: cron mail and pipes get none. Log lines clear it
 * first (see src/cli/context.ts), so a bar never garbles a message.
 */
export interface Progress {
  readonly enabled: boolean;
  /** `fraction` of the work called `label` is done (0..1). */
  update(label: string, fraction: number): void;
  /** Removes the bar (the work is over, or a log line is about to be written). */
  clear(): void;
}
