import { Option } from "commander";

export const QUIESCE_MODES = ["required", "try", "off"] as const;

/**
 * `--quiesce[=required|try|off]`; a bare `--quiesce` means required. Commander alone would take
 * any word after a bare `--quiesce` as its value (`backup --quiesce web01 -b DIR` would lose the
 * domain), so normalizeQuiesce() settles the value before commander sees the words.
 */
export function quiesceOption(): Option {
  return new Option(
    "--quiesce [mode]",
    "freeze guest filesystems via the guest agent: --quiesce=required|try|off (alone: required)",
  )
    .choices(QUIESCE_MODES)
    .preset("required")
    .default("try");
}

/**
 * A bare `--quiesce` followed by a word that is not a mode becomes `--quiesce=required`, so that
 * word stays a positional argument (a domain). `--quiesce=MODE` and `--quiesce MODE` keep their
 * mode. Nothing after `--` is touched.
 */
export function normalizeQuiesce(args: string[]): string[] {
  const end = args.indexOf("--");
  const modes: readonly string[] = QUIESCE_MODES;
  return args.map((arg, i) => {
    if (arg !== "--quiesce" || (end >= 0 && i >= end)) return arg;
    const next = args[i + 1];
    return next !== undefined && modes.includes(next) ? arg : "--quiesce=required";
  });
}
