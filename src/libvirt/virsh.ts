import type { Cmd } from "../exec.js";

/** virsh command builders: plain data, run by src/exec.ts. `uri` is libvirt's connection URI. */
export function virsh(uri: string) {
  const read = (...args: string[]): Cmd => ({
    file: "virsh",
    args: ["-c", uri, ...args],
    mutates: false,
  });
  const write = (...args: string[]): Cmd => ({
    file: "virsh",
    args: ["-c", uri, ...args],
    mutates: true,
  });
  return {
    version: () => read("version"),
    capabilitiesOfDomains: () => read("domcapabilities"),
    capabilitiesOfHost: () => read("capabilities"),
    listNames: (onlyRunning: boolean) =>
      read("list", onlyRunning ? "--state-running" : "--all", "--name"),
    domState: (domain: string) => read("domstate", "--domain", domain),
    dumpXml: (domain: string, inactive = false) =>
      inactive
        ? read("dumpxml", "--inactive", "--domain", domain)
        : read("dumpxml", "--domain", domain),
    define: (xmlFile: string) => write("define", "--file", xmlFile),
    start: (domain: string) => write("start", "--domain", domain),
    domUuid: (domain: string) => read("domuuid", "--domain", domain),

    /** External disk-only snapshot; libvirt keeps no snapshot metadata, virtsnap's catalog does. */
    snapshotDiskOnly: (domain: string, specs: DiskSpec[], quiesce: boolean) =>
      write(
        "snapshot-create-as",
        "--domain",
        domain,
        "--disk-only",
        "--atomic",
        "--no-metadata",
        ...(quiesce ? ["--quiesce"] : []),
        ...specs.flatMap((s) => ["--diskspec", diskSpec(s)]),
      ),

    /** The same with the domain's RAM saved too (fi-backup's dump-state): disks and memory agree. */
    snapshotWithMemory: (domain: string, specs: DiskSpec[], memoryFile: string) =>
      write(
        "snapshot-create-as",
        "--domain",
        domain,
        "--atomic",
        "--no-metadata",
        "--memspec",
        `file=${memoryFile.replaceAll(",", ",,")},snapshot=external`,
        ...specs.flatMap((s) => ["--diskspec", diskSpec(s)]),
      ),
    saveImageXml: (file: string) => read("save-image-dumpxml", "--file", file),
    /** Resumes a domain from saved RAM; `xmlFile` may only change host-side details (disk paths). */
    restoreMemory: (file: string, xmlFile: string) =>
      write("restore", "--file", file, "--xml", xmlFile),

    /**
     * Commit the layers from `top` down to just above `base` into `base` (top is not the active
     * layer). No --wait: virsh polls every 500 ms, a fixed ~0.5 s per commit; see waitForBlockJob.
     */
    blockCommit: (
      domain: string,
      target: string,
      top: string,
      base: string,
      bandwidthMiB?: number,
    ) =>
      write(
        "blockcommit",
        "--domain",
        domain,
        "--path",
        target,
        "--top",
        top,
        "--base",
        base,
        "--delete",
        ...(bandwidthMiB ? ["--bandwidth", String(bandwidthMiB)] : []),
      ),

    blockJobPivot: (domain: string, target: string) =>
      write("blockjob", "--domain", domain, "--path", target, "--pivot"),

    /** `--raw` prints nothing once the disk has no block job. */
    blockJobInfo: (domain: string, target: string) =>
      read("blockjob", "--domain", domain, "--path", target, "--info", "--raw"),

    /** Commit the active layer (and all below it down to `base`) into `base`, then pivot QEMU onto `base`. */
    blockCommitActive: (domain: string, target: string, base: string) =>
      write(
        "blockcommit",
        "--domain",
        domain,
        "--path",
        target,
        "--active",
        "--pivot",
        "--base",
        base,
        "--wait",
        "--delete",
      ),

    startPaused: (domain: string) => write("start", "--paused", "--domain", domain),
    /** SIGTERM to QEMU: it flushes and persists dirty bitmaps before it exits (LAB.md). */
    stopGraceful: (domain: string) => write("destroy", "--graceful", "--domain", domain),
    fsFreeze: (domain: string) => write("domfsfreeze", "--domain", domain),
    fsThaw: (domain: string) => write("domfsthaw", "--domain", domain),

    /** Push-mode backup into files virtsnap pre-created (so an incremental is a chain link already). */
    backupBegin: (domain: string, backupXml: string, checkpointXml: string | undefined) =>
      write(
        "backup-begin",
        "--domain",
        domain,
        "--backupxml",
        backupXml,
        ...(checkpointXml ? ["--checkpointxml", checkpointXml] : []),
        "--reuse-external",
      ),
    jobInfo: (domain: string) => read("domjobinfo", "--domain", domain),
    /** Returns at the first such event of the domain, or fails after `timeoutS` seconds without one. */
    eventWait: (domain: string, event: string, timeoutS: number) =>
      read("event", "--domain", domain, "--event", event, "--timeout", String(timeoutS)),
    /** Reading the completed job's record also clears it, so the next read starts clean. */
    completedJobInfo: (domain: string) => read("domjobinfo", "--domain", domain, "--completed"),
    jobAbort: (domain: string) => write("domjobabort", "--domain", domain),

    checkpointNames: (domain: string) => read("checkpoint-list", "--domain", domain, "--name"),
    checkpointXml: (domain: string, name: string) =>
      read("checkpoint-dumpxml", "--domain", domain, "--checkpointname", name),
    checkpointRedefine: (domain: string, xmlFile: string) =>
      write("checkpoint-create", "--domain", domain, "--xmlfile", xmlFile, "--redefine"),
    /** Deleting a checkpoint merges its bitmap into its parent's; `metadataOnly` for a broken bitmap. */
    checkpointDelete: (domain: string, name: string, metadataOnly = false) =>
      write(
        "checkpoint-delete",
        "--domain",
        domain,
        "--checkpointname",
        name,
        ...(metadataOnly ? ["--metadata"] : []),
      ),

    /** Pull the data of every layer above `base` into the active layer. */
    blockPull: (domain: string, target: string, base: string) =>
      write("blockpull", "--domain", domain, "--path", target, "--base", base, "--wait"),
  };
}

export type Virsh = ReturnType<typeof virsh>;

export type DiskSpec = { target: string; overlay: string } | { target: string; skip: true };

/**
 * virsh splits --diskspec on commas, and a literal comma is written twice (virsh(1), snapshot-create-as),
 * so a path with a comma still names the right file.
 */
export function diskSpec(spec: DiskSpec): string {
  if ("skip" in spec) return `${spec.target},snapshot=no`;
  return `${spec.target},snapshot=external,driver=qcow2,file=${spec.overlay.replaceAll(",", ",,")}`;
}
