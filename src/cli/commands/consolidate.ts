import { type Command, Option } from "commander";
import {
  type ConsolidateOptions,
  type ConsolidateReport,
  consolidate,
} from "../../commands/consolidate.js";
import { renderConsolidate } from "../render.js";
import { type Opts, wire } from "../wiring.js";

export function consolidateInput([domain]: unknown[], o: Opts): ConsolidateOptions {
  return {
    domain: domain as string,
    method: o.method as ConsolidateOptions["method"],
    allLayers: Boolean(o.allLayers),
  };
}

export const consolidateWiring = wire({
  name: "consolidate",
  define: (cmd: Command) =>
    cmd
      .description("live-chain upkeep: merge frozen virtsnap layers")
      .argument("<domain>")
      .addOption(
        new Option("--method <method>", "commit into the base, or pull into the top")
          .choices(["commit", "pull"])
          .default("commit"),
      )
      .option(
        "--all-layers",
        "also merge the active overlay: back onto the original image (next backup is a full)",
      ),
  input: consolidateInput,
  run: consolidate,
  output: (report: ConsolidateReport) => ({ data: report, text: renderConsolidate(report) }),
});
