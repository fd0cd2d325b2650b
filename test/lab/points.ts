/** Backups taken through the CLI, each with the expected disk content at its moment, and restores proved against it. */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { identical, type LabDomain, type Result, virtsnap } from "./lab.js";

/** One point as `virtsnap --json list` prints it (the documented schema). */
export interface ListedPoint {
  id: string;
  time: string;
  level: string;
  mode: string;
  chain: string;
  parent: string | null;
  quiesced: boolean;
  /** cbt: the checkpoint the point created. */
  checkpoint?: string;
  disks: {
    target: string;
    file: string;
    format: string;
    virtualSize: number;
    bytes: number;
    /** Catalog format 1. */
    sha256?: string;
    /** Catalog format 2: `sha256-4m:<hex>`. */
    digest?: string;
  }[];
}

/** How a test runs the CLI: the checkout's by default, or an installed/packaged one. */
export type Cli = (args: string[], env?: Record<string, string>) => Promise<Result>;

export async function listPoints(
  backupDir: string,
  name: string,
  cli: Cli = virtsnap,
): Promise<ListedPoint[]> {
  const r = await cli(["--json", "list", name, "-b", backupDir]);
  assert.equal(r.exitCode, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { domain: string; points: ListedPoint[] };
  assert.equal(doc.domain, name);
  return doc.points;
}

export class PointBook {
  private readonly marks = new Map<string, Map<string, number>>();

  constructor(
    readonly vm: LabDomain,
    readonly backupDir: string,
    readonly work: string,
    readonly cli: Cli = virtsnap,
  ) {}

  /** `virtsnap backup` as a user runs it; the new point is remembered with what the guest had written. */
  async backup(...extra: string[]): Promise<ListedPoint> {
    return this.backupWith({}, ...extra);
  }

  /** The same with extra environment, e.g. VIRTSNAP_TEST_NOW for a simulated calendar. */
  async backupWith(env: Record<string, string>, ...extra: string[]): Promise<ListedPoint> {
    const r = await this.attempt(extra, env);
    assert.equal(r.exitCode, 0, r.stderr);
    return this.latest();
  }

  /** `virtsnap backup` of this domain into this folder, whatever it ends with (for tests of failures and output). */
  attempt(extra: string[] = [], env: Record<string, string> = {}): Promise<Result> {
    return this.cli(["backup", this.vm.name, "-b", this.backupDir, ...extra], env);
  }

  /** The newest point, remembered with the guest's writes so far (for runs made by the test itself). */
  async latest(): Promise<ListedPoint> {
    const point = (await listPoints(this.backupDir, this.vm.name, this.cli)).at(-1);
    assert.ok(point, "no point in the catalog");
    if (!this.marks.has(point.id)) this.marks.set(point.id, this.vm.mark());
    return point;
  }

  /** A fresh image with exactly what the guest had written to `target` when `point` was taken. */
  async expected(target: string, point: ListedPoint): Promise<string> {
    return this.vm.expectedImage(target, this.work, this.marks.get(point.id));
  }

  /** Restores the point into a fresh folder and proves every disk equal to the guest's content then. */
  async assertRestores(point: ListedPoint, backupDir = this.backupDir): Promise<void> {
    const to = await fs.mkdtemp(path.join(this.work, `restore-${point.id}-`));
    const r = await this.cli([
      "restore",
      this.vm.name,
      "-b",
      backupDir,
      "--point",
      point.id,
      "--to",
      to,
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const xml = await fs.readFile(path.join(to, `${this.vm.name}.xml`), "utf8");
    for (const disk of point.disks) {
      const restored = path.join(to, `${disk.target}.qcow2`);
      const expected = await this.expected(disk.target, point);
      assert.ok(
        await identical(expected, restored),
        `${point.id} (${point.level}) ${disk.target} differs`,
      );
      assert.ok(xml.includes(restored), `restored XML does not point at ${restored}`);
    }
  }
}
