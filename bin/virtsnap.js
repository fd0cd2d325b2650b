#!/usr/bin/env node
// Runs the bundle (`npm run build` makes it), so the tests and `npm install -g` run what ships.
import { createRequire } from "node:module";

createRequire(import.meta.url)("../dist/pkg/virtsnap.cjs");
