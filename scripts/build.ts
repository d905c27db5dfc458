// Bundles the CLI into dist/pgseal.mjs (plain JS). Why: Node never strips types under node_modules,
// so an installed pgseal needs JS; and the type stripper alone costs ~50 MB of RSS per process.
import { build } from "esbuild";

await build({
  entryPoints: [new URL("../cli/main.ts", import.meta.url).pathname],
  outfile: new URL("../dist/pgseal.mjs", import.meta.url).pathname,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  packages: "external",
  sourcemap: "linked",
  logLevel: "warning",
});
