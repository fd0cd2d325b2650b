import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clock, levelOf, uriOf } from "../../../src/cli/context.js";

describe("the context's parts from the global options", () => {
  it("-q logs warnings and errors only, -v everything, else info", () => {
    assert.equal(levelOf({ quiet: true, verbose: true }), "warn");
    assert.equal(levelOf({ verbose: true }), "debug");
    assert.equal(levelOf({}), "info");
  });

  it("-c, else $LIBVIRT_DEFAULT_URI, else qemu:///system", () => {
    const env = { LIBVIRT_DEFAULT_URI: "qemu:///session" };
    assert.equal(uriOf({ connect: "test:///default" }, env), "test:///default");
    assert.equal(uriOf({}, env), "qemu:///session");
    assert.equal(uriOf({}, {}), "qemu:///system");
  });

  it("VIRTSNAP_TEST_NOW starts the clock there and it runs on; else the real time", () => {
    const now = clock({ VIRTSNAP_TEST_NOW: "2024-03-01T10:00:00Z" })();
    const offset = now.getTime() - Date.parse("2024-03-01T10:00:00Z");
    assert.ok(offset >= 0 && offset < 5000, `${offset} ms after the start`);
    const real = clock({ VIRTSNAP_TEST_NOW: "not a time" })();
    assert.ok(Math.abs(real.getTime() - Date.now()) < 5000);
  });
});
