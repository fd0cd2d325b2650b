import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DomainMetrics, escapeLabel, renderMetrics } from "../../../src/repo/metrics.js";

const figures = (domain: string, ok: boolean): DomainMetrics => ({
  domain,
  run: {
    lastRun: 1_700_000_000,
    lastRunSuccess: ok,
    lastRunSeconds: 12.5,
    lastRunBytes: 1024,
    warnings: 0,
  },
  repo: {
    lastSuccess: ok ? 1_700_000_000 : undefined,
    points: 3,
    chains: 1,
    chainDepth: 3,
  },
});

describe("metrics textfile", () => {
  it("writes one HELP/TYPE block per metric and a line per domain", () => {
    const text = renderMetrics("", [figures("web", true)]);
    assert.match(text, /^# HELP virtsnap_last_run_timestamp_seconds /m);
    assert.match(text, /^# TYPE virtsnap_last_run_success gauge$/m);
    assert.match(text, /^virtsnap_last_run_success\{domain="web"\} 1$/m);
    assert.match(text, /^virtsnap_last_run_duration_seconds\{domain="web"\} 12.5$/m);
    assert.match(text, /^virtsnap_chain_depth\{domain="web"\} 3$/m);
  });

  it("keeps other domains' lines and replaces the fresh ones", () => {
    const first = renderMetrics("", [figures("web", true), figures("db", true)]);
    const second = renderMetrics(first, [figures("web", false)]);
    assert.match(second, /^virtsnap_last_run_success\{domain="web"\} 0$/m);
    assert.match(second, /^virtsnap_last_run_success\{domain="db"\} 1$/m);
    assert.equal(
      second.match(/domain="web"/g)?.length,
      8,
      "no last success time for a failed first run",
    );
    assert.equal(second.match(/^# TYPE virtsnap_points gauge$/gm)?.length, 1);
  });

  it("a refresh of the repository's figures keeps the last run's lines", () => {
    const first = renderMetrics("", [figures("web", true), figures("db", true)]);
    const repo = { lastSuccess: 1_700_000_500, points: 1, chains: 1, chainDepth: 1 };
    const pruned = renderMetrics(first, [{ domain: "web", repo }]);
    assert.match(pruned, /^virtsnap_points\{domain="web"\} 1$/m);
    assert.match(pruned, /^virtsnap_chain_depth\{domain="web"\} 1$/m);
    assert.match(pruned, /^virtsnap_last_success_timestamp_seconds\{domain="web"\} 1700000500$/m);
    assert.match(pruned, /^virtsnap_last_run_duration_seconds\{domain="web"\} 12.5$/m);
    assert.match(pruned, /^virtsnap_last_run_success\{domain="web"\} 1$/m);
    assert.match(pruned, /^virtsnap_points\{domain="db"\} 3$/m);
    assert.equal(pruned.match(/domain="web"/g)?.length, 9);
  });

  it("a failed run that could not read the catalog keeps the repository's lines", () => {
    const first = renderMetrics("", [figures("web", true)]);
    const { run } = figures("web", false);
    const failed = renderMetrics(first, [{ domain: "web", ...(run ? { run } : {}) }]);
    assert.match(failed, /^virtsnap_last_run_success\{domain="web"\} 0$/m);
    assert.match(failed, /^virtsnap_points\{domain="web"\} 3$/m);
    assert.match(failed, /^virtsnap_last_success_timestamp_seconds\{domain="web"\} 1700000000$/m);
  });

  it("escapes label values", () => {
    assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
    const text = renderMetrics("", [figures('we"ird', true)]);
    assert.match(text, /domain="we\\"ird"/);
    const again = renderMetrics(text, [figures('we"ird', false)]);
    assert.equal(again.match(/virtsnap_last_run_success/g)?.length, 3, "HELP, TYPE and one line");
  });
});
