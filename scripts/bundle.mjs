// Bundles the CLI (tsc's dist/src/bin.js) and every runtime dependency into one CommonJS file,
// dist/pkg/virtsnap.cjs, that runs on Node 18.19 and later with no node_modules: bin/virtsnap.js,
// the Debian package and the single executable all run this file. CommonJS because Node's single
// executable applications run their main script as CommonJS (ES modules only from Node 25).
// Beside it, bundled-packages.json names every package inside, with its license and copyright
// lines, for the Debian copyright file (scripts/debian-copyright.mjs), and THIRD-PARTY-LICENSES
// holds each one's license text, for the npm tarball and the single executable to ship.
import fs from "node:fs";
import path from "node:path";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const outfile = path.join(root, "dist/pkg/virtsnap.cjs");

const result = await build({
  entryPoints: [path.join(root, "dist/src/bin.js")],
  outfile,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node18.19",
  define: { VIRTSNAP_VERSION: JSON.stringify(pkg.version) },
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
});

/** node_modules/a/node_modules/@s/b/lib/x.js -> node_modules/a/node_modules/@s/b */
function packageDir(input) {
  return input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//)?.[1];
}

function describePackage(dir) {
  const meta = JSON.parse(fs.readFileSync(path.join(root, dir, "package.json"), "utf8"));
  const licenseFile = fs
    .readdirSync(path.join(root, dir))
    .find((f) => /^licen[cs]e(\.md|\.txt)?$/i.test(f));
  const text = licenseFile ? fs.readFileSync(path.join(root, dir, licenseFile), "utf8") : "";
  const lines = text.split("\n").map((line) => line.trim());
  // "Copyright (c) 2011:" with the holders on the lines below (retry) counts as one line.
  const holders = lines
    .map((line, i) => (line.endsWith(":") ? [line, ...lines.slice(i + 1, i + 3)].join(" ") : line))
    .filter((line) => /^copyright\s+(\(c\)|©|\d)/i.test(line));
  const author = typeof meta.author === "string" ? meta.author : meta.author?.name;
  const copyright = holders.length > 0 ? holders : [author ?? `the ${meta.name} authors`];
  return { name: meta.name, version: meta.version, dir, license: meta.license, copyright, text };
}

const dirs = [...new Set(Object.keys(result.metafile.inputs).map(packageDir).filter(Boolean))];
const packages = dirs.map(describePackage).sort((a, b) => a.name.localeCompare(b.name));
fs.writeFileSync(
  path.join(root, "dist/pkg/bundled-packages.json"),
  `${JSON.stringify(packages, null, 2)}\n`,
);

/** Every bundled package with the license text of its LICENSE file; one without fails the build. */
function thirdPartyLicenses(list) {
  const rule = "=".repeat(72);
  const sections = list.map((p) => {
    if (!p.text.trim()) throw new Error(`bundle: ${p.dir} has no LICENSE file to ship`);
    return `${rule}\n${p.name} ${p.version} (${p.license})\n${rule}\n\n${p.text.trim()}\n`;
  });
  const head =
    `virtsnap ${pkg.version} bundles these ${list.length} packages into dist/pkg/virtsnap.cjs ` +
    "(the bundle inside the npm package, the .deb and the single executable). Each license " +
    "text below is the one the package ships.\n";
  return [head, ...sections].join("\n");
}
fs.writeFileSync(path.join(root, "dist/pkg/THIRD-PARTY-LICENSES"), thirdPartyLicenses(packages));
const bytes = fs.statSync(outfile).size;
console.log(`bundle: ${outfile} (${(bytes / 1024).toFixed(0)} KiB, ${packages.length} packages)`);
