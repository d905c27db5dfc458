// Finds the PostgreSQL client (and optionally server) binaries once per process, newest major first.
import { execFile } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";
import { PgsealError } from "../../src/shared/errors.ts";

export interface PgTools {
  binDir: string;
  major: number;
  version: string;
  pg_dump: string;
  pg_restore: string;
  psql: string;
  /** Server binaries: guaranteed to exist only when found with `needServer: true`. */
  initdb: string;
  postgres: string;
  pg_ctl: string;
  pgbench?: string;
}

export interface FindPgToolsOptions {
  /** Skip directories whose pg_dump is older than this major version. */
  minMajor?: number;
  /** Also require initdb, postgres and pg_ctl (tests, the demo); the engine only needs client tools. */
  needServer?: boolean;
}

const CLIENT_TOOLS = ["pg_dump", "pg_restore", "psql"] as const;
const SERVER_TOOLS = ["initdb", "postgres", "pg_ctl"] as const;
const DEBIAN_PG_ROOT = "/usr/lib/postgresql";
const TOOL_PROBE_TIMEOUT_MS = 5_000;

const cache = new Map<string, Promise<PgTools>>();

export function findPgTools(opts: FindPgToolsOptions = {}): Promise<PgTools> {
  const key = `${opts.minMajor ?? 0}|${opts.needServer ? 1 : 0}|${process.env.PGSEAL_PG_BIN ?? ""}`;
  let found = cache.get(key);
  if (!found) {
    found = search(opts);
    // A failed search is not cached: the user may install the tools and retry in the same process.
    found.catch(() => cache.delete(key));
    cache.set(key, found);
  }
  return found;
}

async function search(opts: FindPgToolsOptions): Promise<PgTools> {
  const required = opts.needServer ? [...CLIENT_TOOLS, ...SERVER_TOOLS] : [...CLIENT_TOOLS];
  const minMajor = opts.minMajor ?? 0;
  const explicit = process.env.PGSEAL_PG_BIN;
  // An explicit directory is a decision, not a hint: never fall back to another installation.
  const candidates = explicit ? [explicit] : await candidateDirs();
  const tooOld: string[] = [];
  for (const dir of candidates) {
    if (!required.every((t) => isExecutable(join(dir, t)))) continue;
    const version = await toolVersion(join(dir, "pg_dump"));
    if (!version) continue;
    const major = Number.parseInt(version, 10);
    if (major < minMajor) {
      tooOld.push(`${dir} (${version})`);
      continue;
    }
    const pgbench = join(dir, "pgbench");
    return {
      binDir: dir,
      major,
      version,
      pg_dump: join(dir, "pg_dump"),
      pg_restore: join(dir, "pg_restore"),
      psql: join(dir, "psql"),
      initdb: join(dir, "initdb"),
      postgres: join(dir, "postgres"),
      pg_ctl: join(dir, "pg_ctl"),
      ...(isExecutable(pgbench) ? { pgbench } : {}),
    };
  }
  const what = required.join(", ");
  const where = explicit ? `PGSEAL_PG_BIN=${explicit}` : `pg_config --bindir, ${DEBIAN_PG_ROOT}/*/bin or PATH`;
  const older = tooOld.length ? `; found only older than ${minMajor}: ${tooOld.join(", ")}` : "";
  throw new PgsealError("PG_TOOLS_MISSING", `PostgreSQL binaries (${what}) not found in ${where}${older}. ${installHint(opts.needServer ?? false)}`);
}

export function installHint(needServer: boolean): string {
  const pkg = needServer ? "postgresql" : "postgresql-client";
  if (existsSync("/etc/debian_version")) return `Install them with: apt-get install -y ${pkg}`;
  if (process.platform === "darwin") return "Install them with: brew install postgresql";
  return `Install the ${pkg} package of your system, or set PGSEAL_PG_BIN to a PostgreSQL bin directory.`;
}

async function candidateDirs(): Promise<string[]> {
  const dirs: string[] = [];
  const fromPgConfig = await run("pg_config", ["--bindir"]);
  if (fromPgConfig) dirs.push(fromPgConfig.trim());
  dirs.push(...debianBinDirs());
  // On Debian /usr/bin/pg_dump is a wrapper script (pg_wrapper); PATH comes last so a real
  // versioned bin dir wins whenever one exists.
  for (const p of (process.env.PATH ?? "").split(delimiter)) if (p) dirs.push(p);
  return [...new Set(dirs)];
}

function debianBinDirs(): string[] {
  let entries: string[];
  try {
    entries = readdirSync(DEBIAN_PG_ROOT);
  } catch {
    return [];
  }
  return entries
    .filter((e) => /^\d+(\.\d+)?$/.test(e))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    .map((e) => join(DEBIAN_PG_ROOT, e, "bin"));
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** "pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)" -> "15.14"; also "17beta1", "9.6.24". */
async function toolVersion(bin: string): Promise<string | undefined> {
  const out = await run(bin, ["--version"]);
  return out?.match(/\(PostgreSQL\)\s+(\d+(?:\.\d+)*(?:[a-z]+\d*)?)/)?.[1];
}

function run(file: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: TOOL_PROBE_TIMEOUT_MS }, (error, stdout) => resolve(error ? undefined : stdout));
  });
}
