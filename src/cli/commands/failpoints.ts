import type { Command } from "commander";
import { failpointTable } from "../../steps.js";
import { wire } from "../wiring.js";

type Table = ReturnType<typeof failpointTable>;

/** One line per mutating command: its named steps in execution order. */
export function failpointsOutput(table: Table) {
  const text = Object.entries(table)
    .map(([command, steps]) => `${command}: ${steps.join(", ") || "-"}`)
    .join("\n");
  return { data: table, text };
}

/** `debug failpoints`: under the `debug` command. */
export const failpointsWiring = wire({
  name: "failpoints",
  define: (cmd: Command) =>
    cmd.description(
      "the named steps of each mutating command, in execution order (VIRTSNAP_FAILPOINT)",
    ),
  input: () => undefined,
  run: async () => failpointTable(),
  output: failpointsOutput,
});
