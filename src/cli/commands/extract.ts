import type { Command } from "commander";
import {
  type ExtractOptions,
  type ExtractReport,
  extract,
  renderExtract,
} from "../../commands/extract.js";
import { backupDir, backupDirOption } from "../options.js";
import { type Opts, wire } from "../wiring.js";

export function extractInput(
  [domain, paths]: unknown[],
  o: Opts,
  env: NodeJS.ProcessEnv,
): ExtractOptions {
  return {
    domain: domain as string,
    backupDir: backupDir(o.backupDir, env),
    point: o.point as string,
    disk: o.disk as string | undefined,
    paths: paths as string[],
    to: o.to as string,
  };
}

export const extractWiring = wire({
  name: "extract",
  define: (cmd: Command) =>
    cmd
      .description("copy files or directories out of a point, owners, modes and times kept")
      .argument("<domain>")
      .argument("<path...>", "/path, or FILESYSTEM:/path as libguestfs names it")
      .addOption(backupDirOption())
      .requiredOption("--point <id>", "point id, or latest")
      .requiredOption("--to <dir>", "folder to copy them into")
      .option("--disk <dev>", "look for the filesystem on this disk only"),
  input: extractInput,
  run: extract,
  output: (report: ExtractReport) => ({ data: report, text: renderExtract(report) }),
});
