/**
 * prune, driven through a scripted qemu-img/virsh over a real repository in a tmp dir: the order
 * of what it runs, and that a failed merge leaves the journal for the next prune to finish.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { prune } from "../../../src/commands/prune.js";
import { readJournal } from "../../../src/journal.js";
import { createLog } from "../../../src/log.js";
import { readCatalog, writeCatalog } from "../../../src/repo/catalog.js";
import { CATALOG_FILE, pointFile } from "../../../src/repo/paths.js";
import type { Catalog, RestorePoint } from "../../../src/types.js";
import { type Script, ScriptedRun, scratchDir, scriptedContext } from "../../lab/scripted-run.js";

const NAME = "vm1";
const IDS = ["20250101T000000Z", "20250102T000000Z", "20250103T000000Z"];
const CHAIN = IDS[0] as string;

/** One chain of three snapshot points (full, inc, inc), their files real and tiny. */
async function repository(backupDir: string): Promise<string> {
  const dir = path.join(backupDir, NAME);
  await fs.mkdir(path.join(dir, CHAIN), { recursive: true });
  const points: RestorePoint[] = [];
  for (const [i, id] of IDS.entries()) {
    const file = pointFile(CHAIN, "vda", id, i === 0 ? "full" : "inc");
    await fs.writeFile(path.join(dir, file), `data ${id}`);
    const disk = { target: "vda", file, format: "qcow2" as const, virtualSize: 1048576 };
    points.push({
      id,
      time: new Date(Date.parse("2025-01-01T00:00:00Z") + i * 86_400_000).toISOString(),
      mode: "snapshot",
      level: i === 0 ? "full" : "inc",
      chain: CHAIN,
      parent: IDS[i - 1] ?? null,
      quiesced: false,
      disks: [{ ...disk, bytes: 8, sha256: "0".repeat(64) }],
    });
  }
  const catalog: Catalog = {
    format: 1,
    domain: { name: NAME, uuid: "6d0c4a52-3f1e-4a5e-9a53-2b6f4f1c0a11" },
    chains: [{ id: CHAIN, mode: "snapshot" }],
    points,
  };
  await writeCatalog(dir, catalog);
  return dir;
}

const script: Script = [
  [/^virsh list --all --name/, { stdout: "" }],
  [/^virsh checkpoint-list/, { stdout: "" }],
  [/^qemu-img commit/, {}],
  [/^qemu-img check/, { stdout: "{}" }],
];

describe("prune with a scripted runner", () => {
  let work: string;
  let backupDir: string;
  let dir: string;
  const dirs: string[] = [];
  const keepLast = (dryRun = false) => ({
    domain: NAME,
    backupDir,
    policy: { last: 1, hourly: 0, daily: 0, weekly: 0, monthly: 0 },
    dryRun,
  });

  beforeEach(async () => {
    work = await scratchDir("virtsnap-scripted-prune-");
    dirs.push(work);
    backupDir = path.join(work, "backups");
    dir = await repository(backupDir);
  });
  after(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });

  it("checks for readers, folds the newest point down, checks it, then sweeps checkpoints", async () => {
    const runner = new ScriptedRun(script);
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    const report = await prune(ctx, keepLast());
    assert.deepEqual(report.removed, IDS.slice(0, 2));
    assert.deepEqual(runner.words(), [
      "virsh list",
      "qemu-img commit",
      "qemu-img check",
      "virsh checkpoint-list",
    ]);
    // p3's file is committed down into p1's, which then becomes p3's full file.
    const [p1, , p3] = IDS;
    assert.match(
      runner.calls[1] ?? "",
      new RegExp(`-b \\S+vda\\.${p1}\\.full\\.qcow2 \\S+vda\\.${p3}\\.inc`),
    );
    const catalog = await readCatalog(dir);
    assert.deepEqual(
      catalog?.points.map((p) => [p.id, p.level]),
      [[p3, "full"]],
    );
    assert.equal(await readJournal(path.join(dir, "journal.json")), undefined);
  });

  it("a dry run runs the read-only commands and only prints the merge", async () => {
    const runner = new ScriptedRun(script);
    const lines: string[] = [];
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    const log = createLog({ level: "info", write: (line) => lines.push(line), tty: true });
    const before = await fs.readFile(path.join(dir, CATALOG_FILE), "utf8");
    await prune({ ...ctx, log }, keepLast(true));
    assert.deepEqual(runner.words(), ["virsh list"]);
    assert.deepEqual(
      lines
        .filter((l) => l.startsWith("would run: "))
        .map((l) => l.split(" ").slice(2, 4).join(" ")),
      ["qemu-img commit"],
    );
    assert.equal(await fs.readFile(path.join(dir, CATALOG_FILE), "utf8"), before);
  });

  it("a failed merge leaves the journal, and the next prune finishes that one first", async () => {
    const runner = new ScriptedRun(script);
    runner.prepend([[/^qemu-img commit/, { fail: "qemu-img: Input/output error" }]]);
    const { ctx } = scriptedContext(runner, path.join(work, "locks"));
    await assert.rejects(prune(ctx, keepLast()), /Input\/output error/);
    const left = await readJournal(path.join(dir, "journal.json"));
    assert.equal(left?.command, "prune");
    assert.equal(left?.failed, undefined, "a prune is finished, never undone");
    const again = new ScriptedRun(script);
    const next = scriptedContext(again, path.join(work, "locks"));
    const report = await prune(next.ctx, keepLast());
    assert.deepEqual(report.interruptedPrune, IDS.slice(0, 2));
    assert.deepEqual(again.words(), ["qemu-img commit", "qemu-img check", "virsh checkpoint-list"]);
  });
});
