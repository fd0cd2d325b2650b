import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommandError, LockedError, OperationError, UsageError } from "../../src/errors.js";
import { explain } from "../../src/failure.js";

const errno = (code: string, syscall: string, path: string) =>
  Object.assign(new Error(`${code}: oops, ${syscall} '${path}'`), { code, syscall, path });

const virshFailure = (reason: string) =>
  new CommandError(
    `virsh version: ${reason}`,
    "virsh",
    `error: failed to connect to the hypervisor\nerror: ${reason}`,
    1,
  );

describe("explain: one line and an exit code for every error", () => {
  const user = { uri: "qemu:///system", uid: 65534 };
  const root = { uri: "qemu:///system", uid: 0 };

  it("keeps virtsnap's own errors and their exit codes", () => {
    assert.deepEqual(explain(new UsageError("bad\nmore"), user), {
      message: "bad",
      exitCode: 2,
      bug: false,
    });
    assert.equal(explain(new LockedError("locked"), user).exitCode, 75);
    assert.equal(explain(new OperationError("no"), user).exitCode, 1);
  });

  it("a path through a file: names the file, exit 2", () => {
    const isFile = (p: string) => p === "/tmp/file";
    const why = explain(errno("ENOTDIR", "open", "/tmp/file/web/virtsnap.json"), {
      ...user,
      isFile,
    });
    assert.deepEqual(
      [why.message, why.exitCode, why.bug],
      ["/tmp/file is a file, not a folder (check -b or the path given)", 2, false],
    );
  });

  it("permission denied: a non-root user is told to run as root (2); root gets the path (1)", () => {
    const denied = errno("EACCES", "open", "/srv/b/web/virtsnap.json");
    const asUser = explain(denied, user);
    assert.equal(asUser.exitCode, 2);
    assert.match(
      asUser.message,
      /permission denied: \/srv\/b\/web\/virtsnap.json; run virtsnap as root/,
    );
    const asRoot = explain(denied, root);
    assert.equal(asRoot.exitCode, 1);
    assert.doesNotMatch(asRoot.message, /as root/);
    assert.equal(explain(errno("ENOSPC", "write", "/x"), root).bug, false);
  });

  it("libvirt's connection failures say what to do", () => {
    const bus = explain(
      virshFailure("internal error: Unable to get system bus connection: Could not connect"),
      user,
    );
    assert.equal(bus.exitCode, 2);
    assert.match(
      bus.message,
      /^cannot connect to libvirt at qemu:\/\/\/system: Unable to get system bus/,
    );
    assert.match(bus.message, /run virtsnap as root/);
    const socket = explain(
      virshFailure("Failed to connect socket to '/nonexistent': No such file or directory"),
      { uri: "qemu+unix:///system?socket=/nonexistent", uid: 0 },
    );
    assert.equal(socket.exitCode, 1);
    assert.match(socket.message, /is libvirtd \(or virtqemud\) running/);
    const home = explain(
      virshFailure(
        "Cannot create user runtime directory '/root/.cache/libvirt': Permission denied",
      ),
      { uri: "qemu:///session", uid: 65534 },
    );
    assert.match(home.message, /needs a HOME this user can write/);
    const plain = explain(
      new CommandError("virsh domstate: nope", "virsh", "error: nope", 1),
      user,
    );
    assert.deepEqual([plain.message, plain.exitCode], ["virsh domstate: nope", 1]);
  });

  it("a program refused a file: a non-root user is told to run as root", () => {
    const denied = new CommandError(
      "qemu-img info: Could not open '/var/lib/libvirt/images/a.qcow2': Permission denied",
      "qemu-img",
      "qemu-img: Could not open '/var/lib/libvirt/images/a.qcow2': Permission denied",
      1,
    );
    assert.equal(explain(denied, user).exitCode, 2);
    assert.match(explain(denied, user).message, /Permission denied; run virtsnap as root/);
    assert.equal(explain(denied, root).exitCode, 1);
  });

  it("anything else is a bug (the CLI shows its stack)", () => {
    const why = explain(new TypeError("x is undefined"), root);
    assert.deepEqual([why.exitCode, why.bug], [1, true]);
  });
});
