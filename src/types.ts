/** What virsh tells about a domain, reduced to what a backup needs. */
export interface Domain {
  name: string;
  uuid: string;
  /** true when QEMU runs (also paused): live snapshot and block jobs; false: offline qemu-img path. */
  active: boolean;
  disks: Disk[];
  /** A virtio channel for the QEMU guest agent is configured (needed to freeze filesystems). */
  guestAgent: boolean;
  /** Files besides the disks the domain needs to boot, as its XML names them. */
  boot: BootPaths;
  /** An emulated TPM (swtpm): its state lives in /var/lib/libvirt/swtpm/<uuid>/. */
  tpmEmulator: boolean;
  /** The XML the model was read from, saved with every point. */
  xml: string;
}

export type DiskDevice = "disk" | "cdrom" | "floppy" | "lun";

export interface Disk {
  /** Target device name (vda, sdb): the disk's identity in the catalog. */
  target: string;
  device: DiskDevice;
  /** libvirt's disk type: file, block, network, volume, ... */
  type: string;
  /** The top image QEMU writes to (libvirt's <source file>), if any. */
  source: string | undefined;
  /** Image format of the top layer (driver type): qcow2, raw, ... */
  format: string | undefined;
  readonly: boolean;
  /** <shareable/>: another domain may write it at the same time. */
  shareable?: boolean;
}

/** One layer of a live backing chain, top first (from qemu-img info --backing-chain). */
export interface Layer {
  file: string;
  format: string;
  virtualSize: number;
  /** Bytes the file takes on disk. */
  actualSize: number;
  backing: string | undefined;
  /** qcow2 compat level ("1.1" = v3, "0.10" = v2); undefined for raw. */
  compat: string | undefined;
  /** A block device (LVM volume, partition, loop device), not a file: its overlays live elsewhere. */
  block?: boolean;
}

/** A disk's live chain: layers[0] is what QEMU writes to. */
export interface Chain {
  target: string;
  layers: Layer[];
}

/** How data moves into the repository (backup --compress, --bandwidth). */
export interface Transfer {
  /** qcow2 compression of new point files: zstd where QEMU has it, else zlib; false: none. */
  compress: false | "zstd" | "zlib";
  /** Limit for copies and block jobs, MiB/s; undefined: as fast as the disks go. */
  bandwidthMiB: number | undefined;
}

/**
 * Freezing guest filesystems through the guest agent: required (no freeze, no point), try (a
 * crash-consistent point with a warning when it cannot), off (no attempt, no warning).
 */
export type Quiesce = "required" | "try" | "off";

export type Mode = "snapshot" | "cbt";
export type Level = "full" | "inc" | "diff" | "copy";

export interface PointDisk {
  target: string;
  /** Relative to the domain's folder: <chain>/<target>.<point>.<level>.qcow2 */
  file: string;
  format: "qcow2";
  virtualSize: number;
  bytes: number;
  /** Format 1: the whole file's SHA-256 (hex). */
  sha256?: string;
  /** Format 2: `sha256-4m:<hex>`, see src/repo/block-digest.ts. */
  digest?: string;
  /**
   * Copied whole although the point is an incremental (a raw image in cbt mode cannot carry a dirty
   * bitmap; a disk new to the chain has no parent file); `reason` says which.
   */
  whole?: true;
  reason?: string;
}

/** A disk of the domain that a point does not hold, and why (absent in older catalogs). */
export interface ExcludedDisk {
  target: string;
  reason: string;
}

export interface RestorePoint {
  id: string;
  time: string;
  mode: Mode;
  level: Level;
  chain: string;
  parent: string | null;
  quiesced: boolean;
  disks: PointDisk[];
  /** The domain's disks the point left out (--exclude, cdrom, shareable, ...), each with its reason. */
  excluded?: ExcludedDisk[];
  /** Files besides the disks (absent in older catalogs: none). */
  files?: AuxFile[];
  /** cbt: the checkpoint this point created (absent in older catalogs: `virtsnap-<id>`). */
  checkpoint?: string;
}

/** <os><nvram>, <kernel>, <initrd>, <dtb>: absolute paths on the host. */
export interface BootPaths {
  nvram?: string;
  kernel?: string;
  initrd?: string;
  dtb?: string;
}

/**
 * A file a point keeps besides its disks: the RAM of backup --memory-state, and what a domain
 * needs to boot (nvram store, TPM state, kernel/initrd/dtb).
 */
export interface AuxFile {
  kind: "memory" | keyof BootPaths | "tpm";
  /** Relative to the domain's folder. */
  file: string;
  bytes: number;
  sha256: string;
  /** Where it came from: an absolute path, or for tpm the path inside the swtpm state folder. */
  source?: string;
}

export interface ChainRecord {
  id: string;
  mode: Mode;
}

/**
 * 1: disks carry a whole-file sha256. 2: disks carry a `sha256-4m:` digest of 4 MiB block hashes
 * (boot and memory files keep sha256 in both).
 */
export type CatalogFormat = 1 | 2;

export interface Catalog {
  format: CatalogFormat;
  domain: { name: string; uuid: string };
  /** Names this repository's checkpoints (8 hex digits), made by the first cbt run that needs it. */
  repoId?: string;
  chains: ChainRecord[];
  /** Oldest first. */
  points: RestorePoint[];
}

/** A domain's folder in the backup directory and its catalog as read at the start of a run. */
export interface Repository {
  /** Absolute path of DIR/<domain>. */
  dir: string;
  catalog: Catalog;
}
