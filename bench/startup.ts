/**
 * Start-up benchmark (bench/startup, or `npm run bench:startup`): what every cron run pays before
 * any work, for the three ways virtsnap ships:
 *  - dist: tsc's unbundled output (`node dist/src/bin.js`: ES modules, node_modules beside),
 *  - bundle: `node dist/pkg/virtsnap.cjs` (what bin/virtsnap.js, npm install -g and the .deb run),
 *  - sea: the single executable dist/pkg/virtsnap-linux-x64 (its own Node).
 * Each runs `--version` and `list --json DOMAIN` of a 50-point repository: tiny qcow2 files
 * (qemu-img create, each backed by the previous point) and a catalog written with virtsnap's own
 * catalog code; `verify` must pass on it first, so the repository is one virtsnap accepts.
 * Wall time from spawn to exit, the variants interleaved, medians of --runs N (default 20) after
 * a warm-up run each. PASS when the bundle's median is not above dist's for both commands.
 * VIRTSNAP_BENCH_NODE=PATH adds a fourth column: the bundle run by that node binary.
 * Needs qemu-img; no libvirt. Exit 1 on FAIL or when anything fails.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { emptyCatalog, withPoint, writeCatalog } from "../src/repo/catalog.js";
import { pointFile, pointIdOf } from "../src/repo/paths.js";
import type { Catalog } from "../src/types.js";
import { must, sha256, tempDir } from "../test/lab/lab.js";
import { f3, parseRuns, stats, table } from "./common.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const POINTS = 50;
const DOMAIN = "startup-bench";
const START = Date.parse("2026-01-01T00:00:00Z");

const VARIANTS = [
  { name: "dist", file: process.execPath, args: [path.join(ROOT, "dist/src/bin.js")] },
  { name: "bundle", file: process.execPath, args: [path.join(ROOT, "dist/pkg/virtsnap.cjs")] },
  { name: "sea", file: path.join(ROOT, "dist/pkg/virtsnap-linux-x64"), args: [] },
];
// VIRTSNAP_BENCH_NODE=/path/to/node adds the bundle on that Node (e.g. 18.19, as Debian 12 has it).
const otherNode = process.env.VIRTSNAP_BENCH_NODE;
if (otherNode)
  VARIANTS.push({
    name: "bundle@node",
    file: otherNode,
    args: [path.join(ROOT, "dist/pkg/virtsnap.cjs")],
  });
type Variant = (typeof VARIANTS)[number];

/** One chain: a 1 MiB full, then 49 incs, each backed by the previous point's file. */
async function makeRepository(backupDir: string): Promise<void> {
  const dir = path.join(backupDir, DOMAIN);
  let catalog: Catalog = emptyCatalog({
    name: DOMAIN,
    uuid: "00000000-0000-4000-8000-000000000050",
  });
  let parent: { id: string; file: string } | null = null;
  let chain = "";
  for (let k = 0; k < POINTS; k++) {
    const time = new Date(START + k * 6 * 3600 * 1000);
    const id = pointIdOf(time);
    chain ||= id;
    const level = parent ? "inc" : "full";
    const file = pointFile(chain, "vda", id, level);
    const abs = path.join(dir, file);
    await fs.mkdir(path.dirname(abs), { recursive: true });
    const backing = parent ? ["-b", path.basename(parent.file), "-F", "qcow2"] : [];
    await must("qemu-img", ["create", "-q", "-f", "qcow2", ...backing, abs, "1M"]);
    const disk = {
      target: "vda",
      file,
      format: "qcow2" as const,
      virtualSize: 1024 * 1024,
      bytes: (await fs.stat(abs)).size,
      sha256: await sha256(abs),
    };
    catalog = withPoint(catalog, {
      id,
      time: time.toISOString(),
      mode: "snapshot",
      level,
      chain,
      parent: parent?.id ?? null,
      quiesced: true,
      disks: [disk],
    });
    parent = { id, file };
  }
  await writeCatalog(dir, catalog);
}

function runOnce(v: Variant, args: string[]): { seconds: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync(v.file, [...v.args, ...args], {
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin" },
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0)
    throw new Error(`${v.name} ${args.join(" ")} exited ${r.status}: ${r.stderr}`.trimEnd());
  return { seconds, stdout: r.stdout };
}

/** Checks what each variant prints, so a variant that starts but is broken cannot win. */
function check(v: Variant, backupDir: string): void {
  const version = runOnce(v, ["--version"]).stdout;
  if (!/^virtsnap \S+ \(node v\d+\.\d+\.\d+\)$/.test(version.trim()))
    throw new Error(`${v.name} --version printed ${JSON.stringify(version)}`);
  const listed = JSON.parse(runOnce(v, ["--json", "list", DOMAIN, "-b", backupDir]).stdout);
  if (listed.points?.length !== POINTS)
    throw new Error(`${v.name} list shows ${listed.points?.length} points, expected ${POINTS}`);
  console.log(`  ${v.name.padEnd(11)} ${version.trim()}`);
}

async function main(): Promise<void> {
  const usage = "usage: bench/startup [--runs N]   (N >= 3, default 20; needs qemu-img)";
  const runs = parseRuns(process.argv.slice(2), usage, { default: 20, min: 3 });
  const scratch = await tempDir("virtsnap-startup-");
  try {
    const backupDir = path.join(scratch, "backups");
    await makeRepository(backupDir);
    runOnce(VARIANTS[1] as Variant, ["verify", DOMAIN, "-b", backupDir]);
    console.log(`repository: ${POINTS} points of one chain in ${backupDir} (verify passed)`);
    for (const v of VARIANTS) check(v, backupDir);
    const commands = {
      "--version": ["--version"],
      "list (50 points)": ["--json", "list", DOMAIN, "-b", backupDir],
    };
    const seconds = new Map<string, number[]>();
    for (const [label, args] of Object.entries(commands))
      for (let i = 0; i <= runs; i++)
        for (const v of VARIANTS) {
          const s = runOnce(v, args).seconds;
          const key = `${label}|${v.name}`;
          if (i > 0) seconds.set(key, [...(seconds.get(key) ?? []), s]); // run 0 warms up
        }
    report(runs, Object.keys(commands), seconds);
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

function report(runs: number, labels: string[], seconds: Map<string, number[]>): void {
  const ms = (x: number) => (x * 1000).toFixed(1);
  const s = (label: string, name: string) => stats(seconds.get(`${label}|${name}`) ?? []);
  console.log(`\nstart-up, wall ms from spawn to exit (median of ${runs}; min-max)`);
  console.log(
    table([
      ["command", ...VARIANTS.map((v) => v.name), "bundle/dist", "sea/dist"],
      ...labels.map((label) => [
        label,
        ...VARIANTS.map((v) => {
          const x = s(label, v.name);
          return `${ms(x.median)} (${ms(x.min)}-${ms(x.max)})`;
        }),
        `${f3(s(label, "bundle").median / s(label, "dist").median)}x`,
        `${f3(s(label, "sea").median / s(label, "dist").median)}x`,
      ]),
    ]),
  );
  const pass = labels.every((label) => s(label, "bundle").median <= s(label, "dist").median);
  console.log(
    `\n${pass ? "PASS" : "FAIL"}: the bundle is ${pass ? "not slower than" : "slower than"} dist/ (medians, both commands)`,
  );
  const summary = Object.fromEntries([...seconds].map(([key, xs]) => [key, stats(xs)]));
  console.log(JSON.stringify({ bench: "startup", runs, points: POINTS, seconds: summary, pass }));
  if (!pass) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
