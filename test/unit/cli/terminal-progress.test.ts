import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { terminalProgress } from "../../../src/cli/terminal-progress.js";

describe("the terminal progress bar", () => {
  it("draws a bar, redraws only on change, and clears it", () => {
    const out: string[] = [];
    const bar = terminalProgress((t) => out.push(t));
    bar.update("vda: copy", 0.5);
    bar.update("vda: copy", 0.5);
    assert.equal(out.length, 1);
    assert.equal(out[0], `\r\x1b[2K${"█".repeat(15)}${"░".repeat(15)}  50% vda: copy`);
    bar.clear();
    bar.clear();
    assert.deepEqual(out.slice(1), ["\r\x1b[2K"]);
  });
});
