import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveMode } from "../../../src/commands/backup-plan.js";
import { UsageError } from "../../../src/errors.js";
import { hostFacts } from "../../../src/libvirt/host.js";
import { silentLog } from "../../../src/log.js";

/** What differs on older hosts (QEMU 5.2 / libvirt 7.0, Debian 11): the pure parts of the fixes. */

describe("--mode cbt on a host without backup support", () => {
  const legacy = hostFacts(
    "Compiled against library: libvirt 7.0.0\nUsing library: libvirt 7.0.0\nUsing API: QEMU 7.0.0\nRunning hypervisor: QEMU 5.2.0\n",
    "<domainCapabilities><backup supported='no'/></domainCapabilities>",
  );

  it("is a usage error (exit 2) with a one-line reason", () => {
    assert.equal(legacy.cbt, false);
    assert.throws(
      () => resolveMode("cbt", [], legacy, silentLog()),
      (e: unknown) =>
        e instanceof UsageError && /no backup support; use --mode snapshot$/.test(e.message),
    );
  });

  it("auto picks snapshot mode there", () => {
    assert.equal(resolveMode("auto", [], legacy, silentLog()), "snapshot");
  });
});
