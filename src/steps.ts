/**
 * The named steps of every mutating command, in execution order. The journal records each step
 * before it runs, and VIRTSNAP_FAILPOINT=<step> makes the process SIGKILL itself right there.
 * `virtsnap debug failpoints --json` prints this table.
 */
export const STEPS = {
  "backup.snapshot": ["freeze", "copy", "save-xml", "catalog", "commit-frozen"],
  "backup.cbt": [
    "start-paused",
    "targets",
    "job",
    "wait",
    "finish-files",
    "catalog",
    "prune-checkpoints",
    "stop",
  ],
  consolidate: ["merge", "cleanup"],
  rotate: ["catalog", "delete-chains"],
  prune: ["merge", "rename", "catalog", "delete"],
  restore: ["write-disks", "write-xml"],
  // No journal: upgrade writes nothing but the catalog, atomically (src/commands/upgrade.ts).
  upgrade: ["catalog"],
} as const satisfies Record<string, readonly string[]>;

export type Command = keyof typeof STEPS;
export type StepOf<C extends Command> = (typeof STEPS)[C][number];

/** Every step by its full name (`backup.snapshot.freeze`), grouped by command, in execution order. */
export function failpointTable(): Record<Command, string[]> {
  const entries = Object.entries(STEPS).map(([command, steps]) => [
    command,
    steps.map((s) => `${command}.${s}`),
  ]);
  return Object.fromEntries(entries) as Record<Command, string[]>;
}

/** Test hook: die exactly here, as `kill -9` or a power cut would, with nothing cleaned up. */
export function failpoint(fullStep: string, env: NodeJS.ProcessEnv): void {
  if (env.VIRTSNAP_FAILPOINT === fullStep) process.kill(process.pid, "SIGKILL");
}
