/**
 * Everyday operation: fleets in parallel with a summary, run logs, metrics, progress bars on a
 * terminal only, --compress, --full-every and --bandwidth.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabDomain, must, sh, tempDir, virtsnap } from "../lab/lab.js";
import { listPoints, PointBook } from "../lab/points.js";

const CLI = path.resolve(import.meta.dirname, "../../../bin/virtsnap.js");

describe("everyday operation", () => {
  let work: string;
  const domains: LabDomain[] = [];
  const newDomain = async (start: boolean) => {
    const vm = await LabDomain.create({
      disks: [{ target: "vda", format: "qcow2", sizeMiB: 64 }],
      start,
    });
    domains.push(vm);
    return vm;
  };

  before(async () => {
    work = await tempDir("virtsnap-everyday-");
  });
  after(async () => {
    for (const vm of domains) await vm.destroy();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("backup --all --parallel 2 over 4 domains, one broken: three points, exit 3, the summary names it; metrics and run logs", async () => {
    const fleet = [await newDomain(true), await newDomain(false), await newDomain(true)];
    const broken = await newDomain(false);
    await fs.rm(broken.disks[0]?.path as string); // its disk image is gone
    for (const vm of fleet) await vm.write("vda", 0x61, 0, 2);
    const dir = path.join(work, "fleet");
    const metrics = path.join(work, "virtsnap.prom");
    // --all takes every domain of the host: only where this test's four are all there is (CI).
    const host = (await must("virsh", ["list", "--all", "--name"])).split("\n").filter(Boolean);
    const ours = new Set([...fleet, broken].map((vm) => vm.name));
    const select = host.every((n) => ours.has(n)) ? ["--all"] : [...ours];
    if (select[0] !== "--all")
      console.log("other domains on this host: naming the four instead of --all");

    const r = await virtsnap([
      "backup",
      ...select,
      "-b",
      dir,
      "--parallel",
      "2",
      "--metrics-file",
      metrics,
    ]);
    assert.equal(r.exitCode, 3, r.stderr);
    assert.match(r.stdout, /DOMAIN\s+RESULT/);
    assert.match(r.stdout, new RegExp(`${broken.name}\\s+FAILED`));
    assert.match(r.stdout, new RegExp(`3 of 4 domains backed up; failed: ${broken.name}`));
    for (const vm of fleet) {
      assert.match(r.stdout, new RegExp(`${vm.name}\\s+ok`));
      const points = await listPoints(dir, vm.name);
      assert.equal(points.length, 1);
      const own = await fs.mkdtemp(path.join(work, "restore-"));
      await new PointBook(vm, dir, own).assertRestores(points[0] as never);
      const logs = await fs.readdir(path.join(dir, vm.name, "log"));
      assert.equal(logs.length, 1);
      const log = await fs.readFile(path.join(dir, vm.name, "log", logs[0] as string), "utf8");
      assert.match(log, /debug \$ qemu-img info/, "the run log has the commands run");
      assert.match(log, /info .*saved/);
    }
    const prom = await fs.readFile(metrics, "utf8");
    for (const vm of fleet)
      assert.match(prom, new RegExp(`virtsnap_last_run_success\\{domain="${vm.name}"\\} 1`));
    assert.match(prom, new RegExp(`virtsnap_last_run_success\\{domain="${broken.name}"\\} 0`));
    assert.match(prom, new RegExp(`virtsnap_points\\{domain="${fleet[0]?.name}"\\} 1`));
    assert.ok(!prom.includes(`virtsnap_last_success_timestamp_seconds{domain="${broken.name}"}`));

    // A later run for one domain keeps the others' lines in the same file.
    const one = await virtsnap([
      "--json",
      "backup",
      fleet[0]?.name as string,
      "-b",
      dir,
      "--metrics-file",
      metrics,
    ]);
    assert.equal(one.exitCode, 0, one.stderr);
    const again = await fs.readFile(metrics, "utf8");
    assert.match(again, new RegExp(`virtsnap_points\\{domain="${fleet[0]?.name}"\\} 2`));
    assert.match(again, new RegExp(`virtsnap_last_run_success\\{domain="${broken.name}"\\} 0`));
    const json = JSON.parse(one.stdout) as {
      summary: { ok: number };
      domains: { logFile: string }[];
    };
    assert.equal(json.summary.ok, 1);
    assert.ok(json.domains[0]?.logFile.startsWith(path.join(dir, fleet[0]?.name as string, "log")));
  });

  it("contrib/virtsnap-nightly backs up and prunes by its settings", async () => {
    const vm = await newDomain(false);
    const dir = path.join(work, "nightly");
    const script = path.resolve(import.meta.dirname, "../../../contrib/virtsnap-nightly");
    for (const [i, day] of ["2026-05-01", "2026-05-02", "2026-05-03"].entries()) {
      await vm.write("vda", 0x90 + i, i, 1);
      const r = await sh("env", [
        `VIRTSNAP=${process.execPath} ${CLI}`,
        `VIRTSNAP_BACKUP_DIR=${dir}`,
        `VIRTSNAP_DOMAINS=${vm.name}`,
        "VIRTSNAP_KEEP=--keep-last 2",
        `VIRTSNAP_METRICS=${path.join(work, "nightly.prom")}`,
        `VIRTSNAP_TEST_NOW=${day}T01:30:00Z`,
        "bash",
        script,
      ]);
      assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    }
    const points = await listPoints(dir, vm.name);
    assert.deepEqual(
      points.map((p) => p.id),
      ["20260502T013000Z", "20260503T013000Z"],
    );
    const prom = await fs.readFile(path.join(work, "nightly.prom"), "utf8");
    assert.match(
      prom,
      new RegExp(`^virtsnap_points\\{domain="${vm.name}"\\} 2$`, "m"),
      "after the prune",
    );
    const book = new PointBook(vm, dir, await fs.mkdtemp(path.join(work, "nightly-")));
    // The book learns the guest's content only for points it saw: the newest one.
    await book.latest();
    await book.assertRestores(points[1] as never);
  });

  it("a progress bar on a terminal, none when piped", async () => {
    const vm = await newDomain(true);
    await vm.write("vda", 0x62, 0, 16);
    const dir = path.join(work, "progress");
    const cmd = [process.execPath, CLI, "backup", vm.name, "-b", dir, "--mode", "snapshot"];
    const quoted = cmd.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    const tty = await sh("script", ["-qefc", quoted, "/dev/null"]);
    assert.equal(tty.exitCode, 0, tty.stdout + tty.stderr);
    assert.match(tty.stdout, /█+░*\s+\d+% vda: copy/, "a bar on the terminal");
    const piped = await virtsnap([
      "backup",
      vm.name,
      "-b",
      dir,
      "--mode",
      "snapshot",
      "--level",
      "full",
    ]);
    assert.equal(piped.exitCode, 0, piped.stderr);
    assert.ok(!/[█░\r]/.test(piped.stderr + piped.stdout), "no bar when piped");
    assert.match(piped.stderr, /^\d{4}-\d\d-\d\dT[\d:.]+Z /m, "timestamped lines for cron mail");
  });

  for (const mode of ["snapshot", "cbt"] as const) {
    it(`--compress (${mode}): compressible points shrink and restore identically`, async () => {
      const vm = await newDomain(mode === "snapshot");
      await vm.write("vda", 0x63, 0, 24);
      const plainDir = path.join(work, `plain-${mode}`);
      const plain = await new PointBook(vm, plainDir, work).backup("--mode", mode);
      const dir = path.join(work, `compressed-${mode}`);
      const book = new PointBook(vm, dir, work);
      const full = await book.backup("--mode", mode, "--compress");
      assert.equal(full.level, "full");
      const ratio = (full.disks[0]?.bytes ?? 0) / (plain.disks[0]?.bytes ?? 1);
      console.log(
        `--compress ${mode}: full ${full.disks[0]?.bytes} vs ${plain.disks[0]?.bytes} bytes`,
      );
      assert.ok(ratio < 0.2, `compressed full is ${ratio} of the plain one`);
      const file = path.join(dir, vm.name, full.disks[0]?.file as string);
      const info = await must("qemu-img", ["info", file]);
      assert.match(info, /compression type: zstd/);
      await vm.write("vda", 0x64, 30, 8);
      const inc = await book.backup("--mode", mode, "--compress");
      assert.equal(inc.level, "inc");
      assert.ok(
        (inc.disks[0]?.bytes ?? 0) < 2 * 1024 * 1024,
        `inc of 8 MiB takes ${inc.disks[0]?.bytes}`,
      );
      await book.assertRestores(full);
      await book.assertRestores(inc);
      const verify = await virtsnap(["verify", vm.name, "-b", dir]);
      assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
    });
  }

  it("--full-every 2 starts a new chain every second point; --bandwidth reaches qemu-img and blockcommit", async () => {
    const vm = await newDomain(true);
    const dir = path.join(work, "every");
    const book = new PointBook(vm, dir, work);
    const levels: string[] = [];
    for (let i = 0; i < 3; i++) {
      await vm.write("vda", 0x70 + i, i, 1);
      levels.push((await book.backup("--mode", "snapshot", "--full-every", "2")).level);
    }
    assert.deepEqual(levels, ["full", "inc", "full"]);
    assert.equal(new Set((await listPoints(dir, vm.name)).map((p) => p.chain)).size, 2);

    await vm.write("vda", 0x7a, 4, 1);
    const r = await book.attempt([
      "--json",
      "--mode",
      "snapshot",
      "--bandwidth",
      "50",
      "--compress",
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const logFile = (JSON.parse(r.stdout) as { domains: { logFile: string }[] }).domains[0]
      ?.logFile;
    const log = await fs.readFile(logFile as string, "utf8");
    assert.match(log, /qemu-img convert .*-r 50M/);
    assert.match(log, /virsh .*blockcommit .*--bandwidth 50/);
    for (const p of await listPoints(dir, vm.name)) await book.assertRestores(p);

    const bad = await book.attempt(["--full-every", "2", "--level", "inc"]);
    assert.equal(bad.exitCode, 2);
    const zero = await book.attempt(["--parallel", "0"]);
    assert.equal(zero.exitCode, 2);
  });
});
