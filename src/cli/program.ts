import { Command } from "commander";
import { act } from "./act.js";
import { backupWiring } from "./commands/backup.js";
import { consolidateWiring } from "./commands/consolidate.js";
import { extractWiring } from "./commands/extract.js";
import { failpointsWiring } from "./commands/failpoints.js";
import { filesWiring } from "./commands/files.js";
import { infoWiring } from "./commands/info.js";
import { listWiring } from "./commands/list.js";
import { pruneWiring } from "./commands/prune.js";
import { repairWiring } from "./commands/repair.js";
import { restoreWiring } from "./commands/restore.js";
import { rotateWiring } from "./commands/rotate.js";
import { upgradeWiring } from "./commands/upgrade.js";
import { verifyWiring } from "./commands/verify.js";
import { versionLine } from "./version.js";
import type { Wiring } from "./wiring.js";

/** The commands in the order --help, the man page and the completion list them. */
const BEFORE_DEBUG = [
  backupWiring,
  listWiring,
  restoreWiring,
  filesWiring,
  extractWiring,
  rotateWiring,
  pruneWiring,
  consolidateWiring,
  verifyWiring,
  repairWiring,
  upgradeWiring,
];
const AFTER_DEBUG = [infoWiring];
const DEBUG = [failpointsWiring];

/** The whole command line as commander objects; scripts/man.mjs and completion.mjs walk it. */
export function buildProgram(): Command {
  const program = new Command("virtsnap")
    .description("Backups of libvirt/KVM domains as plain qcow2 chains")
    .version(versionLine(), "-V, --version", "print the virtsnap and Node versions")
    .option(
      "-c, --connect <uri>",
      "libvirt connection URI (default: $LIBVIRT_DEFAULT_URI or qemu:///system)",
    )
    .option("--json", "print exactly one JSON document on stdout")
    .option("-v, --verbose", "log every command virsh/qemu-img runs (stderr)")
    .option("-q, --quiet", "print warnings and errors only")
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({
      outputError: (message, write) => write(`${message.split("\n")[0] ?? message}\n`),
    });
  const add = (parent: Command, wiring: Wiring<unknown, unknown>) =>
    wiring.define(parent.command(wiring.name)).action(act(program, wiring));
  for (const wiring of BEFORE_DEBUG) add(program, wiring);
  const debug = program.command("debug").description("for tests and support");
  for (const wiring of DEBUG) add(debug, wiring);
  for (const wiring of AFTER_DEBUG) add(program, wiring);
  return program;
}
