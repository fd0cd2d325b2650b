/**
 * The bundler (scripts/bundle.mjs) replaces VIRTSNAP_VERSION with package.json's version, so the
 * number lives in one place; tsc's unbundled output (dist/src, used by the man page generator and
 * the start-up bench) has no such define and says "dev".
 */
declare const VIRTSNAP_VERSION: string | undefined;

export const VERSION = typeof VIRTSNAP_VERSION === "string" ? VIRTSNAP_VERSION : "dev";

/** `virtsnap --version`: ours and the Node it runs on (the single executable carries its own). */
export function versionLine(): string {
  return `virtsnap ${VERSION} (node ${process.version})`;
}
