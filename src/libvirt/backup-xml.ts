import xml2js from "xml2js";

/** One disk in a backup job: backed up into `file` (full or since the checkpoint), or left out. */
export type BackupDisk =
  | { target: string; file: string; full: boolean }
  | { target: string; skip: true };

const builder = new xml2js.Builder({
  headless: true,
  renderOpts: { pretty: true, indent: "  ", newline: "\n" },
});

/**
 * libvirt's <domainbackup> in push mode (formatbackup.html). A disk that cannot be incremental (raw,
 * new since the checkpoint) gets backupmode='full' inside an incremental job.
 */
export function backupXml(incrementalFrom: string | undefined, disks: BackupDisk[]): string {
  return builder.buildObject({
    domainbackup: {
      $: { mode: "push" },
      ...(incrementalFrom ? { incremental: [incrementalFrom] } : {}),
      disks: [
        {
          disk: disks.map((d) =>
            "skip" in d
              ? { $: { name: d.target, backup: "no" } }
              : {
                  $: {
                    name: d.target,
                    backup: "yes",
                    type: "file",
                    ...(incrementalFrom && d.full ? { backupmode: "full" } : {}),
                  },
                  target: [{ $: { file: d.file } }],
                  driver: [{ $: { type: "qcow2" } }],
                },
          ),
        },
      ],
    },
  });
}

/** libvirt's <domaincheckpoint> (formatcheckpoint.html): a bitmap for each disk that can hold one. */
export function checkpointXml(name: string, disks: { target: string; bitmap: boolean }[]): string {
  return builder.buildObject({
    domaincheckpoint: {
      name: [name],
      disks: [
        {
          disk: disks.map((d) => ({
            $: { name: d.target, checkpoint: d.bitmap ? "bitmap" : "no" },
          })),
        },
      ],
    },
  });
}

export interface JobInfo {
  type: string;
  processed: number | undefined;
  total: number | undefined;
}

/** `virsh domjobinfo` output: "Job type: Unbounded|Completed|Failed|None", sizes like "80.000 MiB". */
export function parseJobInfo(text: string): JobInfo {
  const field = (name: string) => new RegExp(`^${name}:\\s*(.+?)\\s*$`, "m").exec(text)?.[1];
  return {
    type: field("Job type") ?? "None",
    processed: bytes(field("File processed")),
    total: bytes(field("File total")),
  };
}

const UNITS: Record<string, number> = {
  B: 1,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};

function bytes(value: string | undefined): number | undefined {
  const m = /^([\d.]+)\s*(B|KiB|MiB|GiB|TiB)$/.exec(value ?? "");
  return m ? Math.round(Number(m[1]) * (UNITS[m[2] ?? "B"] ?? 1)) : undefined;
}
