// Prints /usr/share/doc/virtsnap/copyright in Debian's machine-readable format
// (https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/): virtsnap itself, then every
// package bundled into virtsnap.cjs (dist/pkg/bundled-packages.json, written by bundle.mjs), with
// one license paragraph per license. Usage: node scripts/debian-copyright.mjs > copyright
import fs from "node:fs";
import path from "node:path";

const root = new URL("..", import.meta.url).pathname;
const read = (file) => fs.readFileSync(path.join(root, file), "utf8");
const bundled = JSON.parse(read("dist/pkg/bundled-packages.json"));
const own = read("LICENSE");

/** npm's SPDX names -> Debian's short names (MIT is "Expat" in Debian). */
const DEBIAN_NAME = { MIT: "Expat" };
const debianName = (spdx) => DEBIAN_NAME[spdx] ?? spdx;

/** A text as a field's continuation lines: one space in front, "." for an empty line. */
function continuation(text) {
  return text
    .trim()
    .split("\n")
    .map((line) => (line.trim() === "" ? " ." : ` ${line.trimEnd()}`))
    .join("\n");
}

/** The license's terms without its title and copyright lines (those go in Copyright:). */
function terms(text) {
  return text
    .split("\n")
    .filter((line) => !/^\s*(copyright\s+(\(c\)|©|\d)|the isc license|mit license)/i.test(line))
    .join("\n")
    .replace(/\n{3,}/g, "\n\n");
}

function licenseParagraph(spdx) {
  if (spdx === "Apache-2.0")
    return `License: Apache-2.0\n On Debian systems, the full text of the Apache License 2.0 is in\n /usr/share/common-licenses/Apache-2.0.`;
  const source = spdx === "MIT" ? own : bundled.find((p) => p.license === spdx)?.text;
  if (!source) throw new Error(`no text for license ${spdx}`);
  return `License: ${debianName(spdx)}\n${continuation(terms(source))}`;
}

function filesParagraph(p) {
  return [
    `Files: ${p.dir}/*`,
    `Copyright: ${p.copyright.join("\n ")}`,
    `License: ${debianName(p.license)}`,
    `Comment: ${p.name} ${p.version}, bundled into /usr/lib/virtsnap/virtsnap.cjs`,
  ].join("\n");
}

const ownCopyright = own.split("\n").find((line) => /^copyright/i.test(line)) ?? "";
const paragraphs = [
  [
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
    "Upstream-Name: virtsnap",
  ].join("\n"),
  `Files: *\nCopyright: ${ownCopyright.replace(/^copyright\s*(\(c\)\s*)?/i, "")}\nLicense: Expat`,
  ...bundled.map(filesParagraph),
  ...[...new Set(["MIT", ...bundled.map((p) => p.license)])].map(licenseParagraph),
];
process.stdout.write(`${paragraphs.join("\n\n")}\n`);
