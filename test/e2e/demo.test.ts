/**
 * The README's first-screen demo, as a user runs it (less the lab setup, done by the suite): it
 * ends with its restore proved identical, and a correct run prints no warning.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { sh } from "../lab/lab.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

describe("scripts/demo", () => {
  it("backs up twice, restores identically, and warns about nothing", async () => {
    const r = await sh("env", ["VIRTSNAP_DEMO_SETUP=0", "bash", path.join(ROOT, "scripts/demo")]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /demo OK: the restored disk equals what the guest wrote/);
    assert.doesNotMatch(r.stderr, /warn/i, r.stderr);
    // The one thing a domain without a guest agent gives: said once per backup, as information.
    assert.match(r.stderr, /crash-consistent/);
  });
});
