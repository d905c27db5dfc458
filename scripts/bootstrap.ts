// `npm test|demo|bench` run this first (after scripts/require-node.mjs): PostgreSQL, Swift, Chromium for the browser tests
// (not with --no-browser), awscli, zstd and pigz for --bench; installs what is missing when root. --pg-matrix (npm test) also provides
// the test matrix's other PostgreSQL majors in .cache/pg/ (scripts/pg-majors.ts; no root needed, the system untouched).
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";

import { findPgTools } from "../container/src/pg-tools.ts";
import { matrixMajors, providePgMajor } from "./pg-majors.ts";

const bench = process.argv.includes("--bench");
const pgMatrix = process.argv.includes("--pg-matrix");
const browser = !process.argv.includes("--no-browser");

interface Need {
  what: string;
  /** Debian packages that provide it. */
  packages: string[];
  present: () => Promise<string | undefined>;
}

function onPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return join(dir, bin);
    } catch {
      // keep looking
    }
  }
  return undefined;
}

const SWIFT_BINARIES = ["swift-proxy-server", "swift-account-server", "swift-container-server", "swift-object-server", "swift-ring-builder"];

const needs: Need[] = [
  {
    what: "PostgreSQL (pg_dump, pg_restore, psql, initdb, postgres, pgbench)",
    packages: ["postgresql"],
    present: async () => {
      try {
        const tools = await findPgTools({ needServer: true });
        return tools.pgbench ? `PostgreSQL ${tools.version}` : undefined;
      } catch {
        return undefined;
      }
    },
  },
  {
    what: `OpenStack Swift (${SWIFT_BINARIES.join(", ")})`,
    packages: ["swift-proxy", "swift-object", "swift-container", "swift-account"],
    present: async () => (SWIFT_BINARIES.every((b) => onPath(b)) ? "Swift" : undefined),
  },
];
if (browser) {
  // The dashboard's tests drive Debian's Chromium through playwright-core: no browser download.
  needs.push({ what: "Chromium (chromium)", packages: ["chromium"], present: async () => (onPath("chromium") ? "Chromium" : undefined) });
}
if (bench) {
  needs.push({ what: "AWS CLI (aws)", packages: ["awscli"], present: async () => (onPath("aws") ? "aws" : undefined) });
  // The shell pipelines pgseal is measured against: pg_dump | zstd, and pg_dump | pigz (parallel gzip).
  needs.push({ what: "zstd and pigz", packages: ["zstd", "pigz"], present: async () => (onPath("zstd") && onPath("pigz") ? "zstd, pigz" : undefined) });
}

async function missing(): Promise<Need[]> {
  const found = await Promise.all(needs.map((n) => n.present()));
  return needs.filter((_, i) => found[i] === undefined);
}

const aptGet = onPath("apt-get") ?? (existsSync("/usr/bin/apt-get") ? "/usr/bin/apt-get" : undefined);

function apt(args: string[]): number {
  console.error(`bootstrap: apt-get ${args.join(" ")}`);
  const r = spawnSync(aptGet ?? "apt-get", args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return r.status ?? 1;
}

let absent = await missing();
if (absent.length > 0) {
  const packages = [...new Set(absent.flatMap((n) => n.packages))];
  const install = ["install", "-y", "--no-install-recommends", ...packages];
  console.error(`bootstrap: missing ${absent.map((n) => n.what).join("; ")}`);
  if (!existsSync("/etc/debian_version") || !aptGet) {
    console.error(`bootstrap: install them with your package manager (Debian/Ubuntu packages: ${packages.join(" ")}), or set PGSEAL_PG_BIN to a PostgreSQL bin directory.`);
    process.exit(1);
  }
  if (process.getuid?.() !== 0) {
    console.error(`bootstrap: run this, then try again:\n  sudo apt-get ${install.join(" ")}`);
    process.exit(1);
  }
  // Fresh images often have no package lists: update only when the install fails without them.
  if (apt(install) !== 0 && (apt(["update"]) !== 0 || apt(install) !== 0)) {
    console.error("bootstrap: apt-get failed; see its output above");
    process.exit(1);
  }
  absent = await missing();
  if (absent.length > 0) {
    console.error(`bootstrap: still missing after apt-get: ${absent.map((n) => n.what).join("; ")}`);
    process.exit(1);
  }
}

const found = await Promise.all(needs.map((n) => n.present()));
let matrix = "";
if (pgMatrix) {
  const versions: string[] = [];
  for (const major of matrixMajors()) {
    const started = performance.now();
    try {
      const r = providePgMajor(major, (line) => console.error(`bootstrap: ${line}`));
      if (r.fetched) console.error(`bootstrap: PostgreSQL ${r.version} ready in ${r.binDir} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      versions.push(r.version);
    } catch (e) {
      console.error(`bootstrap: PostgreSQL ${major} for the test matrix: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    }
  }
  matrix = `; test matrix: PostgreSQL ${versions.join(", ") || "none (PGSEAL_TEST_MATRIX is empty)"}`;
}
console.log(`bootstrap: ok (Node ${process.versions.node}, ${found.join(", ")}${matrix})`);
