/**
 * What a run tells people: crash-consistent vs quiesced, warnings and --warnings-exit,
 * healthchecks-style pings to a local listener, the status file per domain.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabDomain, tempDir, uniqueName, virtsnap } from "../lab/lab.js";
import { listPoints, PointBook } from "../lab/points.js";

interface Ping {
  method: string;
  url: string;
  body: string;
}

/** A healthchecks.io stand-in on 127.0.0.1 that records every request. */
async function listener(): Promise<{ base: string; pings: Ping[]; close: () => Promise<void> }> {
  const pings: Ping[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      pings.push({ method: req.method ?? "", url: req.url ?? "", body });
      res.end("OK");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    pings,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

interface Status {
  result: string;
  chainDepth: number;
  bytes: number;
  warnings: string[];
  error: string | null;
}

describe("what a run tells", () => {
  let vm: LabDomain;
  let work: string;
  let dir: string;
  let book: PointBook;
  let agentless: LabDomain;
  let agentBook: PointBook;

  before(async () => {
    work = await tempDir("virtsnap-outcome-");
    dir = path.join(work, "backups");
    vm = await LabDomain.create({ disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }] });
    book = new PointBook(vm, dir, work);
    // A guest-agent channel with no agent behind it (no guest OS): every freeze attempt fails.
    agentless = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
      extraDisksXml:
        "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>",
    });
    agentBook = new PointBook(agentless, dir, work);
  });
  after(async () => {
    await agentless?.destroy();
    await vm?.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  const status = async () =>
    JSON.parse(await fs.readFile(path.join(dir, vm.name, "status.json"), "utf8")) as Status;

  for (const mode of ["snapshot", "cbt"] as const) {
    it(`${mode}: --quiesce=try, no agent channel: a crash-consistent point, one info line, no warning`, async () => {
      await vm.write("vda", 0xa1, 0, 2);
      const r = await book.attempt(["--mode", mode, "--quiesce=try", "--warnings-exit", "4"]);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /crash-consistent/);
      assert.match(r.stderr, /no guest agent channel, so the point is crash-consistent/);
      assert.doesNotMatch(
        r.stdout + r.stderr,
        /warn/i,
        "a domain set up without an agent is no warning",
      );
      const point = await book.latest();
      assert.equal(point.quiesced, false);
      await book.assertRestores(point);
      const s = await status();
      assert.equal(s.result, "ok");
      assert.deepEqual(s.warnings, []);
    });

    it(`${mode}: --quiesce=try, an agent channel but no agent: a warning, exit 0 (or --warnings-exit)`, async () => {
      await agentless.write("vda", 0xa3, 0, 2);
      const r = await agentBook.attempt(["--mode", mode, "--quiesce=try"]);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /crash-consistent/);
      assert.match(r.stdout, /WARNING: .*guest filesystems not frozen .*agent/);
      assert.match(r.stdout, /finished with 1 warning\(s\)/);
      const point = await agentBook.latest();
      assert.equal(point.quiesced, false);
      await agentBook.assertRestores(point);

      const json = await agentBook.attempt(["--json", "--mode", mode, "--warnings-exit", "4"]);
      assert.equal(json.exitCode, 4, "--warnings-exit makes a warning visible to cron");
      const report = JSON.parse(json.stdout) as {
        summary: { warnings: number };
        domains: { warnings: string[] }[];
      };
      assert.equal(report.summary.warnings, 1);
      assert.match(report.domains[0]?.warnings[0] ?? "", /crash-consistent/);
      await agentBook.latest();

      // -q keeps cron mail short, but a warning is something to look at: it still shows.
      const quiet = await agentBook.attempt(["-q", "--mode", mode]);
      assert.equal(quiet.exitCode, 0, quiet.stderr);
      assert.equal(quiet.stdout, "");
      assert.match(quiet.stderr, /warn.*not frozen/i);
      assert.doesNotMatch(quiet.stderr, /^(?!.*(warn|WARNING)).+$/m, "only warning lines");
      await agentBook.latest();

      const off = await agentBook.attempt([
        "--json",
        "--mode",
        mode,
        "--quiesce=off",
        "--warnings-exit",
        "4",
      ]);
      assert.equal(off.exitCode, 0, "--quiesce=off asks for no freeze, so nothing to warn about");
      await agentBook.latest();
    });

    it(`${mode}: --quiesce=required without an agent: exit 1, no point, a short live chain`, async () => {
      const before = (await listPoints(dir, vm.name)).length;
      const r = await book.attempt(["--mode", mode, "--quiesce=required"]);
      assert.equal(r.exitCode, 1, r.stderr);
      assert.match(r.stderr, /agent/i);
      const logDir = path.join(dir, vm.name, "log");
      const logs = await Promise.all(
        (await fs.readdir(logDir)).map(async (f) => ({
          file: path.join(logDir, f),
          mtime: (await fs.stat(path.join(logDir, f))).mtimeMs,
        })),
      );
      const newest = logs.sort((a, b) => a.mtime - b.mtime).at(-1)?.file as string;
      assert.match(await fs.readFile(newest, "utf8"), / error .*agent/i, "the log file says why");
      assert.equal((await listPoints(dir, vm.name)).length, before);
      assert.ok((await vm.chain("vda")).length <= 2, (await vm.chain("vda")).join(" <- "));
      const s = await status();
      assert.equal(s.result, "failed");
      assert.match(s.error ?? "", /agent/i);
    });
  }

  it("pings /start then success for a good run, /fail for a broken one; a dead listener fails nothing", async () => {
    const hc = await listener();
    try {
      const url = `${hc.base}/ping/abc`;
      await vm.write("vda", 0xa2, 4, 1);
      const good = await book.attempt(["--quiesce=off", "--notify-url", url]);
      assert.equal(good.exitCode, 0, good.stderr);
      assert.deepEqual(
        hc.pings.map((p) => [p.method, p.url]),
        [
          ["POST", "/ping/abc/start"],
          ["POST", "/ping/abc"],
        ],
      );
      assert.match(hc.pings[1]?.body ?? "", new RegExp(`${vm.name}: ok `));
      await book.latest();
      const s = await status();
      assert.equal(s.result, "ok");
      assert.ok(s.chainDepth >= 1 && s.bytes > 0);

      hc.pings.length = 0;
      const missing = uniqueName("nosuch");
      const bad = await virtsnap([
        "backup",
        missing,
        "-b",
        dir,
        "--notify-url",
        url,
        "--notify-url",
        `${hc.base}/second`,
      ]);
      assert.equal(bad.exitCode, 2);
      const urls = hc.pings.map((p) => p.url).sort();
      assert.deepEqual(urls, [
        "/ping/abc/fail",
        "/ping/abc/start",
        "/second/fail",
        "/second/start",
      ]);
      assert.match(hc.pings.find((p) => p.url === "/ping/abc/fail")?.body ?? "", /does not exist/);
      await assert.rejects(fs.stat(path.join(dir, missing)), "no folder for a mistyped name");

      hc.pings.length = 0;
      const quiet = await book.attempt([
        "--quiesce=off",
        "--notify-url",
        url,
        "--notify-on",
        "failure",
      ]);
      assert.equal(quiet.exitCode, 0, quiet.stderr);
      assert.deepEqual(hc.pings, [], "--notify-on failure sends nothing for a good run");
      await book.latest();
    } finally {
      await hc.close();
    }
    const down = await book.attempt(["--quiesce=off", "--notify-url", `${hc.base}/gone`]);
    assert.equal(down.exitCode, 0, down.stderr);
    assert.match(down.stderr, /notification to .*\/gone\/start failed/);
    await book.latest();

    const usage = await book.attempt(["--notify-url", "ftp://x"]);
    assert.equal(usage.exitCode, 2);
    for (const point of await listPoints(dir, vm.name)) await book.assertRestores(point);
  });
});
