import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  renderBackup,
  renderPrune,
  renderRepair,
  renderRotate,
  renderVerify,
} from "../../../src/cli/render.js";
import type { BackupReport, DomainResult } from "../../../src/commands/backup.js";
import { humanBytes } from "../../../src/progress.js";

const ok = (domain: string, bytes: number): DomainResult => ({
  domain,
  status: "ok",
  mode: "snapshot",
  point: "p1",
  level: "full",
  chain: "c1",
  bytes,
  seconds: 2,
  disks: [{ target: "vda", level: "full", file: "vda.qcow2" }],
  skipped: [],
  warnings: [],
});

const run = (domains: DomainResult[], extra: Partial<BackupReport> = {}): BackupReport => ({
  ok: domains.every((d) => d.status !== "failed"),
  exitCode: 0,
  error: null,
  host: null,
  domains,
  summary: {
    total: domains.length,
    ok: domains.filter((d) => d.status === "ok").length,
    failed: domains.filter((d) => d.status === "failed").length,
    failedDomains: domains.filter((d) => d.status === "failed").map((d) => d.domain),
    warnings: domains.reduce((n, d) => n + d.warnings.length, 0),
  },
  ...extra,
});

describe("render", () => {
  it("sizes in reports are humanBytes(): binary units", () => {
    assert.equal(humanBytes(512), "512 B");
    assert.equal(humanBytes(1536), "1.5 KiB");
    assert.equal(humanBytes(5 * 2 ** 30), "5.0 GiB");
  });

  it("backup: one line per domain; a table and a summary for several; null when stderr said it", () => {
    assert.equal(
      renderBackup(run([ok("web01", 2048)])),
      "web01: point p1 (full, chain c1): vda full; 2.0 KiB in 2.0 s",
    );
    const failed: DomainResult = { ...ok("db01", 0), status: "failed", error: "no disk" };
    const text = renderBackup(run([ok("web01", 2048), failed])) ?? "";
    assert.match(text, /^db01: FAILED: no disk$/m);
    assert.match(text, /^DOMAIN +RESULT +MODE/m);
    assert.match(text, /^1 of 2 domains backed up; failed: db01$/m);
    assert.equal(renderBackup(run([failed])), null);
    assert.equal(renderBackup(run([], { error: "no backup directory" })), null);
  });

  it("rotate, prune: a dry run says would", () => {
    const rotate = { domain: "d", dryRun: true, removed: ["c1"], kept: ["c2"] };
    const chains = [{ id: "c1", points: 1, bytes: 1024 }];
    assert.equal(
      renderRotate({ ...rotate, removedChains: chains }),
      "d: would remove chain c1 (1 point, 1.0 KiB)\nd: would keep chains: c2",
    );
    const prune = {
      domain: "d",
      dryRun: true,
      kept: [{ id: "p2", reasons: ["last"] }],
      removed: [],
      merges: [{ point: "p2", absorbs: ["p1"], how: "commit" }],
      bytesBefore: 0,
      bytesAfter: 0,
      removedBytes: 0,
      interruptedPrune: [],
    };
    assert.equal(
      renderPrune(prune as never),
      "would keep p2 (last)\nwould merge point p1 into p2 (commit)\nwould remove: none",
    );
  });

  it("verify and repair", () => {
    const damaged = { id: "p1", ok: false, problems: ["a", "b"] };
    assert.equal(
      renderVerify({ domain: "d", ok: false, points: [damaged] }),
      "p1: DAMAGED: a; b\nd: 1 damaged point(s)",
    );
    assert.equal(renderRepair({ domain: "d", actions: [] }), "d: nothing to repair");
  });
});
