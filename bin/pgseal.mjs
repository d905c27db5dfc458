#!/usr/bin/env node
// Entry for `npx pgseal`: checks the Node version, then runs the bundled CLI (dist/, built by `npm run build`).
const [major] = process.versions.node.split(".").map(Number);
// The same floor as package.json engines and scripts/require-node.mjs: Node 24 is the only one tested.
if (major < 24) {
  process.stderr.write(`pgseal needs Node.js 24 or newer (this is ${process.version}): run it as 'npx pgseal', which puts the Node 24 installed by 'npm ci' first on PATH.\n`);
  process.exit(2);
}
let cli;
try {
  cli = await import("../dist/pgseal.mjs");
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND" || !String(e.message).includes("dist/pgseal.mjs")) throw e;
  process.stderr.write("pgseal: dist/pgseal.mjs is missing: run 'npm run build' (npm ci does it through the prepare script).\n");
  process.exit(2);
}
process.exitCode = await cli.main(process.argv.slice(2));
