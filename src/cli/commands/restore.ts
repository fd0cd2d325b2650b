import { type Command, Option } from "commander";
import { type RestoreOptions, type RestoreReport, restore } from "../../commands/restore.js";
import { UsageError } from "../../errors.js";
import { parseDeviceList } from "../../libvirt/disk-selection.js";
import { backupDir, backupDirOption } from "../options.js";
import { renderRestore } from "../render.js";
import { type Opts, wire } from "../wiring.js";

function define(cmd: Command): Command {
  return cmd
    .description("write a point's disks as standalone images plus the domain XML")
    .argument("<domain>")
    .addOption(backupDirOption())
    .option("--point <id>", "point id, or latest", "latest")
    .requiredOption("--to <dir>", "folder to write the restored disks and XML into")
    .addOption(
      new Option("--format <format>", "image format").choices(["qcow2", "raw"]).default("qcow2"),
    )
    .option("--disk <devs>", "only these disks (comma-separated targets)")
    .option("--define <name>", "define the restored domain under this new name")
    .option(
      "--instant [name]",
      "define and start it at once on overlays over the repository (name here or via --define)",
    );
}

/** --instant NAME, or --define NAME --instant (DESIGN.md's form): both name the new domain. */
export function instantOptions(define: string | undefined, instant: string | boolean | undefined) {
  if (typeof instant === "string" && define !== undefined && instant !== define)
    throw new UsageError("--define and --instant name different domains; give the name once");
  const name = typeof instant === "string" ? instant : define;
  return { define: name, instant: instant !== undefined && instant !== false };
}

export function restoreInput([domain]: unknown[], o: Opts, env: NodeJS.ProcessEnv): RestoreOptions {
  return {
    domain: domain as string,
    backupDir: backupDir(o.backupDir, env),
    point: (o.point as string | undefined) ?? "latest",
    to: o.to as string,
    format: o.format as RestoreOptions["format"],
    disks: parseDeviceList(o.disk as string | undefined),
    ...instantOptions(o.define as string | undefined, o.instant as string | boolean | undefined),
  };
}

export const restoreWiring = wire({
  name: "restore",
  define,
  input: restoreInput,
  run: restore,
  output: (report: RestoreReport) => ({ data: report, text: renderRestore(report) }),
});
