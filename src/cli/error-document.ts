import { buildReport } from "../commands/backup-report.js";

// What --json prints when a command fails as a whole (a usage error, commander's own parse
// errors, libvirt unreachable): still exactly one JSON document on stdout.

/**
 * backup keeps its report's shape (ok, exitCode, error, host, domains, summary) whatever happens;
 * every other command prints {"ok": false, "error", "exitCode"}.
 */
export function errorDocument(command: string | undefined, message: string, exitCode: number) {
  if (command === "backup") return buildReport([], null, exitCode, message);
  return { ok: false, error: message, exitCode };
}

/** --json among the global words (not after `--`). */
export function wantsJson(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).includes("--json");
}

/**
 * The subcommand the user typed: the first word that is not an option or a global option's value
 * (`-c URI`), when it names a command. For commander's errors, which do not say.
 */
export function commandOf(commands: string[], args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "-c" || arg === "--connect") i++;
    else if (arg === "--") return undefined;
    else if (!arg.startsWith("-")) return commands.includes(arg) ? arg : undefined;
  }
  return undefined;
}
