import type { Command } from "commander";
import { type VerifyOptions, type VerifyReport, verify } from "../../commands/verify.js";
import { EXIT } from "../../errors.js";
import { backupDir, backupDirOption } from "../options.js";
import { renderVerify } from "../render.js";
import { type Opts, wire } from "../wiring.js";

export function verifyInput([domain]: unknown[], o: Opts, env: NodeJS.ProcessEnv): VerifyOptions {
  return {
    domain: domain as string,
    backupDir: backupDir(o.backupDir, env),
    point: o.point as string | undefined,
  };
}

/** A damaged repository is a failure (1), with the report printed all the same. */
export function verifyOutput(report: VerifyReport) {
  return {
    data: report,
    text: renderVerify(report),
    exitCode: report.ok ? EXIT.ok : EXIT.failure,
  };
}

export const verifyWiring = wire({
  name: "verify",
  define: (cmd: Command) =>
    cmd
      .description("check every file of the repository against the catalog")
      .argument("<domain>")
      .addOption(backupDirOption())
      .option("--point <id>", "only this point and the points it depends on"),
  input: verifyInput,
  run: verify,
  output: verifyOutput,
});
