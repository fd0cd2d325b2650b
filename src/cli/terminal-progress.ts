import type { Progress } from "../context.js";

const WIDTH = 30;

/** The bar on a terminal (src/context.ts's Progress): redrawn in place, cleared before a log line. */
export function terminalProgress(write: (text: string) => void): Progress {
  let shown = "";
  return {
    enabled: true,
    update(label, fraction) {
      const f = Math.min(1, Math.max(0, fraction));
      const filled = Math.round(f * WIDTH);
      const bar = `${"█".repeat(filled)}${"░".repeat(WIDTH - filled)}`;
      const line = `${bar} ${(f * 100).toFixed(0).padStart(3)}% ${label}`;
      if (line === shown) return;
      write(`\r\x1b[2K${line}`);
      shown = line;
    },
    clear() {
      if (shown === "") return;
      write("\r\x1b[2K");
      shown = "";
    },
  };
}
