/**
 * Runs last (files run in name order): no domain this test run made may outlive it. A leak here
 * used to go unseen, as a failing `after` hook does not count as a failed test in node's summary.
 * Only this run's names count (runTag), so runs side by side never fail each other; leaked lab
 * domains of other runs (their disks gone) are listed, not failed on.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { LIBVIRT_CONFIGS, must, removeDomain, runTag } from "../lab/lab.js";

async function diskSources(name: string): Promise<string[]> {
  const xml = await must("virsh", ["dumpxml", "--inactive", "--domain", name]).catch(() => "");
  return [...xml.matchAll(/<source (?:file|dev)='([^']+)'/g)].map((m) => m[1] as string);
}

describe("the test run leaves nothing behind", () => {
  it("no domain of this run is still defined", async () => {
    const names = (await must("virsh", ["list", "--all", "--name"]))
      .split("\n")
      .map((n) => n.trim())
      .filter(Boolean);
    const tag = new RegExp(`(^|-)${runTag()}-[0-9a-f]{6}`);
    const ours = names.filter((n) => tag.test(n));
    // Removed so the host stays clean, and reported so the test that leaked gets fixed.
    for (const name of ours) await removeDomain(name);
    const others: string[] = [];
    for (const name of names.filter((n) => /^vs(t|lg)-/.test(n) && !tag.test(n))) {
      const sources = await diskSources(name);
      const present = await Promise.all(
        sources.map((f) =>
          fs.access(f).then(
            () => true,
            () => false,
          ),
        ),
      );
      if (sources.length > 0 && !present.some(Boolean)) others.push(name);
    }
    if (others.length > 0)
      console.log(`lab domains of other runs whose disks are gone: ${others.join(", ")}`);
    assert.deepEqual(ours, [], "domains this run defined and never undefined");
  });

  it("no config of this run's domains is left for libvirtd to define again at its next start", async () => {
    const tag = new RegExp(`(^|-)${runTag()}-[0-9a-f]{6}.*\\.xml$`);
    const files = await fs.readdir(LIBVIRT_CONFIGS);
    const stale = files.filter((f) => tag.test(f));
    for (const f of stale) await fs.rm(path.join(LIBVIRT_CONFIGS, f), { force: true });
    assert.deepEqual(
      stale,
      [],
      "config files libvirtd does not list (they come back on its restart)",
    );
  });
});
