// Writes dist/pkg/virtsnap.1, the man page virtsnap(1): commands, arguments and options come from
// the commander program (scripts/cli-model.mjs), so they say exactly what --help says; exit
// codes, environment, files and examples are written here. Usage: node scripts/man.mjs [OUT]
import fs from "node:fs";
import path from "node:path";
import { allCommands, cliModel, packageJson } from "./cli-model.mjs";

const EXIT_STATUS = [
  ["0", "success (also --help and --version)"],
  [
    "1",
    "failure; in a run over several domains: all of them failed; verify: the repository is damaged",
  ],
  ["2", "usage error or bad input (unknown option, missing backup directory, bad number)"],
  ["3", "some domains of a run over several domains failed, the others succeeded"],
  ["75", "another run holds the domain's lock (EX_TEMPFAIL): try again later"],
  ["130", "stopped by Ctrl-C (SIGINT), after its clean-up (128 + 2, as a shell reports it)"],
  ["143", "stopped by SIGTERM, after its clean-up (128 + 15)"],
  [
    "N",
    "backup --warnings-exit N: the run succeeded with warnings (a crash-consistent point where a freeze was asked for, a disk it could not back up); without it such a run exits 0",
  ],
];

const ENVIRONMENT = [
  ["VIRTSNAP_BACKUP_DIR", "the backup directory when -b is not given"],
  ["LIBVIRT_DEFAULT_URI", "the libvirt connection when -c is not given (default qemu:///system)"],
  ["VIRTSNAP_LOCK_DIR", "where the per-domain locks live (default /run/virtsnap for root)"],
  ["XDG_RUNTIME_DIR", "holds the locks of a user other than root"],
  [
    "VIRTSNAP_FAILPOINT",
    "tests only: stop a mutating command at a named step (virtsnap debug failpoints)",
  ],
  ["VIRTSNAP_TEST_NOW", "tests only: start the clock at this ISO time"],
];

const FILES = [
  [
    "DIR/DOMAIN/virtsnap.json",
    "the catalog of a domain's restore points (written last, atomically)",
  ],
  [
    "DIR/DOMAIN/CHAIN/",
    "a full and the points that depend on it: DISK.POINT.full.qcow2, DISK.POINT.inc.qcow2, domain.POINT.xml, ...",
  ],
  ["DIR/DOMAIN/journal.json", "while a mutating command runs: its current step, for repair"],
  ["DIR/DOMAIN/log/", "one log file per backup run, the newest 30 kept"],
  ["DIR/DOMAIN/status.json", "how the last run went, for monitoring"],
  [
    "DIR/DOMAIN/lent-to-qemu.json",
    "only while restore --instant lends repository files to QEMU: their owners and modes",
  ],
  [
    "/run/virtsnap/",
    "root's per-domain locks (VIRTSNAP_LOCK_DIR overrides), and consolidate's journal beside its lock",
  ],
  [
    "/var/lib/virtsnap/overlays/DOMAIN/",
    "snapshot mode: the overlays of block-device disks during a backup",
  ],
  ["/etc/default/virtsnap", "settings of virtsnap-nightly and the virtsnap-backup.service unit"],
  ["/usr/sbin/virtsnap-nightly", "the nightly job: backup, then prune each backed-up domain"],
  ["virtsnap-backup.timer", "systemd timer that runs virtsnap-backup.service at 01:30 every night"],
];

const EXAMPLES = [
  [
    "Back up one domain (a full the first time, then incrementals):",
    "virtsnap backup web01 -b /srv/backup",
  ],
  [
    "Every running domain, two at a time, quietly, for cron:",
    "virtsnap -q backup --all-running -b /srv/backup --parallel 2",
  ],
  ["Restore points, chains and sizes:", "virtsnap list web01 -b /srv/backup"],
  ["Check every file of the repository:", "virtsnap verify web01 -b /srv/backup"],
  [
    "Upgrade a repository written by an older virtsnap to the current catalog format:",
    "virtsnap upgrade web01 -b /srv/backup",
  ],
  [
    "Restore the latest point into a folder and define it as a new domain:",
    "virtsnap restore web01 -b /srv/backup --to /var/lib/libvirt/images/web01-restored --define web01-restored",
  ],
  [
    "Keep a week of dailies and a month of weeklies:",
    "virtsnap prune web01 -b /srv/backup --keep-daily 7 --keep-weekly 4",
  ],
  [
    "Keep the three newest chains, delete older ones:",
    "virtsnap rotate web01 -b /srv/backup --keep-chains 3",
  ],
  [
    "List /etc in the latest point's filesystem (read-only, through libguestfs):",
    "virtsnap files web01 /etc -b /srv/backup",
  ],
  [
    "Copy files out of a point, owners, modes and times kept:",
    "virtsnap extract web01 /etc/fstab /home/alice -b /srv/backup --point latest --to /tmp/web01-files",
  ],
  [
    "Put a running domain back on its own image, every virtsnap layer merged (the next backup is a full):",
    "virtsnap consolidate web01 --all-layers",
  ],
  ["Finish or undo what a killed run left:", "virtsnap repair web01 -b /srv/backup"],
  [
    "The host's capabilities, the live chain and the last backup:",
    "virtsnap info web01 -b /srv/backup",
  ],
  ["Nightly backups with systemd:", "systemctl enable --now virtsnap-backup.timer"],
];

/** roff-escapes text: backslashes, minus signs, and a leading dot or quote. */
export function esc(text) {
  return String(text)
    .replace(/\\/g, "\\e")
    .replace(/-/g, "\\-")
    .replace(/^([.'])/gm, "\\&$1");
}

/** `-b, --backup-dir <dir>` -> bold flags, italic placeholder. */
function term(text) {
  return text
    .split(/(\s*[<[][^>\]]+[>\]])/)
    .map((part, i) => (i % 2 === 1 ? `\\fI${esc(part)}\\fR` : part ? `\\fB${esc(part)}\\fR` : ""))
    .join("");
}

function items(rows) {
  return rows.flatMap(([t, d]) => [".TP", t, esc(d)]);
}

/** commander's text for an argument; a bare `domain` argument needs none there. */
function argumentText(argument) {
  if (argument.description) return argument.description;
  return argument.term.startsWith("domain") ? "a libvirt domain, by name" : "";
}

function commandSection(cmd) {
  return [
    `.SS "virtsnap ${esc(cmd.usage)}"`,
    esc(cmd.description),
    ...items(cmd.arguments.map((a) => [`\\fI${esc(a.term)}\\fR`, argumentText(a)])),
    ...items(cmd.options.map((o) => [term(o.term), o.description])),
  ];
}

export function renderMan(model, { version, date }) {
  const commands = allCommands(model).filter((c) => c.commands.length === 0);
  return [
    `.TH VIRTSNAP 1 "${date}" "virtsnap ${esc(version)}" "User Commands"`,
    ".SH NAME",
    `virtsnap \\- ${esc(model.description.replace(/^B/, "b"))}`,
    ".SH SYNOPSIS",
    ".B virtsnap",
    "[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]",
    ".SH DESCRIPTION",
    esc(
      "virtsnap backs up libvirt/KVM domains as plain qcow2 chains: every restore point is a qcow2 " +
        "file whose backing file is the previous point, so qemu-img, qemu-nbd and QEMU itself can " +
        "read any point directly. In snapshot mode it takes an external disk-only snapshot, copies " +
        "the frozen layer and merges the overlay back (blockcommit); in cbt mode it uses libvirt " +
        "checkpoints and backup jobs (libvirt >= 7.6, QEMU >= 6.1). --mode auto picks cbt where the " +
        "host supports it. Logs go to stderr; results to stdout, with --json as one JSON document.",
    ),
    ".SH GLOBAL OPTIONS",
    "Global options come before the command.",
    ...items(model.options.map((o) => [term(o.term), o.description])),
    ".SH COMMANDS",
    ...commands.flatMap(commandSection),
    ".SH EXIT STATUS",
    ...items(EXIT_STATUS.map(([code, text]) => [`\\fB${code}\\fR`, text])),
    ".SH ENVIRONMENT",
    ...items(ENVIRONMENT.map(([name, text]) => [`\\fB${name}\\fR`, text])),
    ".SH FILES",
    ...items(FILES.map(([file, text]) => [`\\fI${esc(file)}\\fR`, text])),
    ".SH EXAMPLES",
    ...EXAMPLES.flatMap(([text, command]) => [
      ".PP",
      esc(text),
      ".RS",
      ".nf",
      `\\fB${esc(command)}\\fR`,
      ".fi",
      ".RE",
    ]),
    ".SH SEE ALSO",
    "\\fBvirtsnap\\-nightly\\fR(8), \\fBvirsh\\fR(1), \\fBqemu\\-img\\fR(1), \\fBsystemd.timer\\fR(5)",
    "",
  ].join("\n");
}

/** The page's date: SOURCE_DATE_EPOCH when set, else the newest release's in the changelog. */
function pageDate() {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isFinite(epoch) && epoch > 0) return new Date(epoch * 1000).toISOString().slice(0, 10);
  const changelog = fs.readFileSync(
    new URL("../contrib/debian/changelog", import.meta.url),
    "utf8",
  );
  const trailer = /^ -- .*> {2}(.+)$/m.exec(changelog)?.[1];
  return new Date(trailer ?? Date.now()).toISOString().slice(0, 10);
}

const out = process.argv[2] ?? new URL("../dist/pkg/virtsnap.1", import.meta.url).pathname;
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, renderMan(cliModel(), { version: packageJson.version, date: pageDate() }));
