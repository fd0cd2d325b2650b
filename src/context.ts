import type { Run } from "./exec.js";
import type { Virsh } from "./libvirt/virsh.js";
import type { Log } from "./log.js";
import type { Progress } from "./progress.js";

/** Everything a command needs from the outside world, passed explicitly (only cli.ts reads process.*). */
export interface Context {
  run: Run;
  log: Log;
  virsh: Virsh;
  uri: string;
  lockDir: string;
  now: () => Date;
  /** The process environment (fail points); only cli.ts fills it from process.env. */
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM: long copies stop, clean-up steps still run. */
  signal: AbortSignal;
  /** A bar on a terminal, nothing elsewhere. */
  progress: Progress;
}
