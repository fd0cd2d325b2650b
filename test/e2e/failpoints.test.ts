/**
 * For every named step of every mutating command: SIGKILL the run right there, `repair`, back up
 * again, and prove nothing was lost or left behind. Prints the matrix at the end.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, describe, it } from "node:test";
import { writeAsFormat1 } from "../lab/formats.js";
import { LabDomain, must, tempDir, virtsnap } from "../lab/lab.js";
import { listPoints, PointBook } from "../lab/points.js";

interface Table {
  [command: string]: string[];
}

const matrix: string[] = [];

async function failpointTable(): Promise<Table> {
  const r = await virtsnap(["--json", "debug", "failpoints"]);
  assert.equal(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout) as Table;
}

interface Case {
  mode: "snapshot" | "cbt";
  running: boolean;
  /** Brings the domain and repository to where the killed command starts. */
  setup: (book: PointBook) => Promise<void>;
  /** The command that gets killed. */
  killed: (book: PointBook) => string[];
}

const CASES: Record<string, Case> = {
  "backup.snapshot": {
    mode: "snapshot",
    running: true,
    setup: async (book) => {
      await book.backup("--mode", "snapshot");
      await book.vm.write("vda", 0x22, 8, 2);
    },
    killed: (book) => ["backup", book.vm.name, "-b", book.backupDir, "--mode", "snapshot"],
  },
  "backup.cbt": {
    mode: "cbt",
    running: false,
    setup: async (book) => {
      await book.backup("--mode", "cbt");
      await book.vm.write("vda", 0x22, 8, 2);
    },
    killed: (book) => ["backup", book.vm.name, "-b", book.backupDir, "--mode", "cbt"],
  },
  consolidate: {
    mode: "snapshot",
    running: true,
    setup: async (book) => {
      await book.backup("--mode", "snapshot");
      await book.vm.write("vda", 0x22, 8, 2);
    },
    killed: (book) => ["consolidate", book.vm.name, "--all-layers"],
  },
  prune: {
    mode: "snapshot",
    running: false,
    setup: async (book) => {
      await book.backup("--mode", "snapshot");
      await book.vm.write("vda", 0x22, 8, 2);
      await book.backup("--mode", "snapshot");
      await book.vm.write("vda", 0x23, 9, 2);
      await book.backup("--mode", "snapshot");
    },
    killed: (book) => ["prune", book.vm.name, "-b", book.backupDir, "--keep-last", "1"],
  },
  restore: {
    mode: "snapshot",
    running: true,
    setup: async (book) => {
      await book.backup("--mode", "snapshot");
    },
    killed: (book) => [
      "restore",
      book.vm.name,
      "-b",
      book.backupDir,
      "--to",
      `${book.backupDir}-restore`,
    ],
  },
  rotate: {
    mode: "snapshot",
    running: true,
    setup: async (book) => {
      await book.backup("--mode", "snapshot");
      await book.vm.write("vda", 0x22, 8, 2);
      await book.backup("--mode", "snapshot", "--level", "full");
    },
    killed: (book) => ["rotate", book.vm.name, "-b", book.backupDir, "--keep-chains", "1"],
  },
  upgrade: {
    mode: "snapshot",
    running: true,
    setup: async (book) => {
      await book.backup("--mode", "snapshot");
      await writeAsFormat1(book.backupDir, book.vm.name);
    },
    killed: (book) => ["upgrade", book.vm.name, "-b", book.backupDir],
  },
};

async function assertClean(book: PointBook, c: Case): Promise<void> {
  const vm = book.vm;
  const restoreDir = await fs.readdir(`${book.backupDir}-restore`).catch(() => []);
  assert.deepEqual(
    restoreDir.filter((f) => f.endsWith(".partial")),
    [],
    "a killed restore's partial files",
  );
  assert.equal(await vm.state(), c.running ? "running" : "shut off", "domain state as before");
  const chain = await vm.chain("vda");
  assert.ok(chain.length <= 2, `live chain too long: ${chain.join(" <- ")}`);
  assert.equal(chain.at(-1), vm.disks[0]?.path, "own image at the bottom");
  if (c.mode === "cbt") assert.equal(chain.length, 1, "no overlay in cbt mode");
  for (const file of await vm.overlayFiles())
    assert.ok(chain.includes(file), `orphan overlay ${file}`);
  const files = await fs.readdir(book.backupDir, { recursive: true });
  assert.deepEqual(
    files.filter((f) => f.endsWith(".partial") || f.endsWith("journal.json")),
    [],
  );
  const points = await listPoints(book.backupDir, vm.name);
  const checkpoints = (await must("virsh", ["checkpoint-list", "--domain", vm.name, "--name"]))
    .split("\n")
    .filter(Boolean);
  for (const cp of checkpoints)
    assert.ok(
      points.some((p) => p.checkpoint === cp),
      `stray checkpoint ${cp}`,
    );
  // The newest point was taken after the last guest write, so it proves no guest write was lost.
  for (const point of points) await book.assertRestores(point);
}

describe("kill at every step, repair, back up again", async () => {
  const table = await failpointTable();
  const work = await tempDir("virtsnap-fail-");
  after(async () => {
    await fs.rm(work, { recursive: true, force: true });
    console.log(`\nfail-point matrix (step: outcome)\n${matrix.join("\n")}`);
  });

  it("the fail-point table names every mutating command's steps in order", () => {
    assert.deepEqual(Object.keys(table), [
      "backup.snapshot",
      "backup.cbt",
      "consolidate",
      "rotate",
      "prune",
      "restore",
      "upgrade",
    ]);
    assert.deepEqual(table["backup.snapshot"]?.slice(0, 2), [
      "backup.snapshot.freeze",
      "backup.snapshot.copy",
    ]);
  });

  for (const [command, c] of Object.entries(CASES)) {
    for (const step of table[command] ?? []) {
      it(`${step}: killed, repaired, backed up, nothing lost`, async () => {
        const vm = await LabDomain.create({
          disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
          start: c.running,
        });
        try {
          const book = new PointBook(vm, path.join(work, step), work);
          await vm.write("vda", 0x11, 0, 4);
          await c.setup(book);
          const killed = await virtsnap(c.killed(book), { VIRTSNAP_FAILPOINT: step });
          assert.equal(
            killed.exitCode,
            -1,
            `expected SIGKILL at ${step}, got exit ${killed.exitCode}: ${killed.stderr}`,
          );
          await book.latest(); // a point the killed run did save holds the guest's content as of now

          const repaired = await virtsnap(["--json", "repair", vm.name, "-b", book.backupDir]);
          assert.equal(repaired.exitCode, 0, repaired.stderr);
          const actions = (JSON.parse(repaired.stdout) as { actions: string[] }).actions;
          const again = await virtsnap(["--json", "repair", vm.name, "-b", book.backupDir]);
          assert.deepEqual(
            (JSON.parse(again.stdout) as { actions: string[] }).actions,
            [],
            "repair is idempotent",
          );

          await vm.write("vda", 0x33, 16, 2);
          await book.backup("--mode", c.mode);
          await assertClean(book, c);
          matrix.push(`${step}: ok (${actions.length ? actions.join("; ") : "nothing to repair"})`);
        } catch (error) {
          matrix.push(`${step}: FAILED ${(error as Error).message.split("\n")[0]}`);
          throw error;
        } finally {
          await vm.destroy();
        }
      });
    }
  }
});
