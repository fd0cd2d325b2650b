import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type FilesReport, renderFiles } from "../../../src/commands/files.js";

describe("files: the text listing", () => {
  it("one ls -l-like line per entry under a head naming point, filesystem, disk and folder", () => {
    const report: FilesReport = {
      domain: "web",
      point: "20260102T030405Z",
      filesystem: "/dev/sda1",
      disk: "vda",
      path: "/etc",
      entries: [
        {
          name: "d",
          type: "directory",
          size: 4096,
          mode: 0o755,
          uid: 0,
          gid: 0,
          mtime: "2020-01-02T03:04:05.000Z",
        },
        {
          name: "x.txt",
          type: "file",
          size: 2,
          mode: 0o4640,
          uid: 1234,
          gid: 567,
          mtime: "2021-12-31T23:59:59.500Z",
        },
        {
          name: "l",
          type: "symlink",
          size: 5,
          mode: 0o777,
          uid: 0,
          gid: 0,
          mtime: "2020-01-02T03:04:05.000Z",
          target: "x.txt",
        },
        {
          name: "p",
          type: "fifo",
          size: 0,
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: "2020-01-02T03:04:05.000Z",
        },
      ],
    };
    assert.equal(
      renderFiles(report),
      [
        "point 20260102T030405Z, /dev/sda1 (vda): /etc",
        "d0755 0:0               4096  2020-01-02 03:04:05  d",
        "-4640 1234:567             2  2021-12-31 23:59:59  x.txt",
        "l0777 0:0                  5  2020-01-02 03:04:05  l -> x.txt",
        "?0644 0:0                  0  2020-01-02 03:04:05  p",
      ].join("\n"),
    );
    assert.equal(
      renderFiles({ ...report, disk: undefined, entries: [] }),
      "point 20260102T030405Z, /dev/sda1: /etc",
    );
  });
});
