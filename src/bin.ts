/**
 * The program's entry: what bin/virtsnap.js, the Debian package and the single executable run
 * (bundled into dist/pkg/virtsnap.cjs). No top-level await: the bundle is CommonJS, which Node's
 * single executable applications need and Node 18 runs.
 */
import { main } from "./cli/main.js";

main(process.argv).catch((error: unknown) => {
  // main() handles every expected error itself; whatever reaches here is a bug.
  console.error("internal error (a bug in virtsnap):", error);
  process.exitCode = 1;
});
