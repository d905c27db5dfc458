#!/usr/bin/env node
// Entry for `npx pgseal`: checks the Node version, then runs the TypeScript CLI directly (Node >= 22.18 strips types).
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`pgseal needs Node.js 22.18 or newer (this is ${process.version}). Inside this repository, run it as 'npm run pgseal -- <command>' or 'npx pgseal', which use the pinned Node 24.\n`);
  process.exit(2);
}
const { main } = await import("../cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
