import type { Command } from "commander";
import { type FilesOptions, type FilesReport, files, renderFiles } from "../../commands/files.js";
import { backupDir, backupDirOption } from "../options.js";
import { type Opts, wire } from "../wiring.js";

export function filesInput(
  [domain, file]: unknown[],
  o: Opts,
  env: NodeJS.ProcessEnv,
): FilesOptions {
  return {
    domain: domain as string,
    backupDir: backupDir(o.backupDir, env),
    point: o.point as string,
    disk: o.disk as string | undefined,
    path: file as string,
  };
}

export const filesWiring = wire({
  name: "files",
  define: (cmd: Command) =>
    cmd
      .description("list a directory of a point's filesystem (read-only, through libguestfs)")
      .argument("<domain>")
      .argument("[path]", "/dir, or FILESYSTEM:/dir as libguestfs names it (/dev/sda1:/etc)", "/")
      .addOption(backupDirOption())
      .option("--point <id>", "point id, or latest", "latest")
      .option("--disk <dev>", "look for the filesystem on this disk only"),
  input: filesInput,
  run: files,
  output: (report: FilesReport) => ({ data: report, text: renderFiles(report) }),
});
