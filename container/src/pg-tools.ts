// Finds the PostgreSQL client (and optionally server) binaries once per process, the newest major installed; and which major reads which archive.
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
  /** Skip directories whose pg_dump is older than this major version (e.g. minRestoreMajor() of an archive). */
  minMajor?: number;
  /** Look only here, like PGSEAL_PG_BIN (which it overrides): tests that need one particular major. */
  binDir?: string;
  /** Also require initdb, postgres and pg_ctl (tests, the demo); the engine only needs client tools. */
  needServer?: boolean;
}

const CLIENT_TOOLS = ["pg_dump", "pg_restore", "psql"] as const;
const SERVER_TOOLS = ["initdb", "postgres", "pg_ctl"] as const;
const DEBIAN_PG_ROOT = "/usr/lib/postgresql";
const TOOL_PROBE_TIMEOUT_MS = 5_000;

/** The newest PostgreSQL major pgseal is tested with (README: supported PostgreSQL majors). */
export const NEWEST_MAJOR = 18;

const cache = new Map<string, Promise<PgTools>>();

export function findPgTools(opts: FindPgToolsOptions = {}): Promise<PgTools> {
  // PATH too: the candidates come from it.
  const key = `${opts.minMajor ?? 0}|${opts.needServer ? 1 : 0}|${opts.binDir ?? process.env.PGSEAL_PG_BIN ?? ""}|${process.env.PATH ?? ""}`;
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
  const explicit = opts.binDir ?? process.env.PGSEAL_PG_BIN;
  // An explicit directory is a decision, not a hint: never fall back to another installation.
  const candidates = explicit ? [explicit] : await candidateDirs();
  const complete = candidates.filter((dir) => required.every((t) => isExecutable(join(dir, t))));
  const versions = await Promise.all(complete.map((dir) => toolVersion(join(dir, "pg_dump"))));
  const tooOld: string[] = [];
  let best: { dir: string; version: string; major: number } | undefined;
  // The newest major wins: it reads every older server and every archive format. Among equals, the
  // earlier candidate (pg_config, then versioned directories, then PATH's wrappers) wins.
  complete.forEach((dir, i) => {
    const version = versions[i];
    if (!version) return;
    const major = Number.parseInt(version, 10);
    if (major < minMajor) tooOld.push(`${dir} (${version})`);
    else if (!best || major > best.major) best = { dir, version, major };
  });
  if (best) {
    const { dir, version, major } = best;
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
  const where = opts.binDir ? opts.binDir : explicit ? `PGSEAL_PG_BIN=${explicit}` : `pg_config --bindir, ${DEBIAN_PG_ROOT}/*/bin or PATH`;
  const older = tooOld.length ? `; found only older than ${minMajor}: ${tooOld.join(", ")}` : "";
  throw new PgsealError("PG_TOOLS_MISSING", `PostgreSQL binaries (${what}) not found in ${where}${older}. ${installHint(opts.needServer ?? false, minMajor)}`);
}

export function installHint(needServer: boolean, minMajor = 0): string {
  if (minMajor > 0) {
    const pkg = `${needServer ? "postgresql" : "postgresql-client"}-${Math.max(minMajor, NEWEST_MAJOR)}`;
    return `Install PostgreSQL ${minMajor} or newer (Debian/Ubuntu: ${pkg} from apt.postgresql.org; macOS: brew install postgresql@${Math.max(minMajor, NEWEST_MAJOR)}), or set PGSEAL_PG_BIN to its bin directory.`;
  }
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

export function isExecutable(path: string): boolean {
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

/** A custom-format archive's version ("PGDMP" then major, minor, revision bytes), e.g. 1.16. */
export interface ArchiveVersion {
  major: number;
  minor: number;
}

/**
 * Archive versions by the first PostgreSQL major that writes (and reads) them, newest first
 * (src/bin/pg_dump/pg_backup_archiver.h: 1.14 tableam in 12, 1.15 compression algorithm in 16,
 * 1.16 large-object metadata and relkind in 17). A pg_restore reads every version up to its own.
 */
const ARCHIVE_VERSIONS: readonly { since: number; minor: number }[] = [
  { since: 17, minor: 16 },
  { since: 16, minor: 15 },
  { since: 12, minor: 14 },
  { since: 11, minor: 13 },
];

/** Reads the archive version from the first bytes of a custom-format dump; undefined if they are not one. */
export function readArchiveVersion(head: Uint8Array): ArchiveVersion | undefined {
  if (head.length < 7 || new TextDecoder().decode(head.subarray(0, 5)) !== "PGDMP") return undefined;
  return { major: head[5], minor: head[6] };
}

/** The archive version pg_dump of this major writes (pg_dump 18 writes 1.16). */
export function archiveVersionWrittenBy(pgDumpMajor: number): ArchiveVersion {
  return { major: 1, minor: ARCHIVE_VERSIONS.find((v) => pgDumpMajor >= v.since)?.minor ?? 12 };
}

/** The oldest pg_restore major that reads this archive version (1.16: 17). */
export function minRestoreMajor(archive: ArchiveVersion | string): number {
  const v = typeof archive === "string" ? archiveVersionWrittenBy(Number.parseInt(archive, 10)) : archive;
  if (v.major !== 1) return Number.POSITIVE_INFINITY;
  const known = ARCHIVE_VERSIONS.find((k) => k.minor === v.minor);
  if (known) return known.since;
  // Newer than any we know: only a pg_restore newer than the newest we know might read it.
  return v.minor > ARCHIVE_VERSIONS[0].minor ? NEWEST_MAJOR + 1 : 0;
}

/**
 * Tools whose pg_restore reads an archive written by pg_dump `pgDumpVersion` (the manifest's
 * dump.pgDumpVersion): the newest installed, and PG_RESTORE_TOO_OLD naming both versions and the
 * fix when every installed one is older. Restores and drills call this instead of findPgTools().
 */
export async function findRestoreTools(pgDumpVersion: string, opts: Omit<FindPgToolsOptions, "minMajor"> = {}): Promise<PgTools> {
  const need = minRestoreMajor(pgDumpVersion);
  try {
    return await findPgTools({ ...opts, minMajor: need });
  } catch (e) {
    if (!(e instanceof PgsealError) || e.code !== "PG_TOOLS_MISSING") throw e;
    // Only to name the installed version in the message: with no tools at all, the original error stands.
    const newest = await findPgTools({ ...opts, minMajor: 0 }).catch(() => undefined);
    if (!newest) throw e;
    throw restoreTooOld(newest, pgDumpVersion, need, opts.needServer ?? false);
  }
}

export function restoreTooOld(tools: PgTools, pgDumpVersion: string, need: number, needServer: boolean): PgsealError {
  const v = archiveVersionWrittenBy(Number.parseInt(pgDumpVersion, 10));
  return new PgsealError(
    "PG_RESTORE_TOO_OLD",
    `the backup was written by pg_dump ${pgDumpVersion} (archive format ${v.major}.${v.minor}), which pg_restore ${tools.version} in ${tools.binDir} cannot read: ` +
      `it needs PostgreSQL ${need} or newer tools. ${installHint(needServer, need)} The target server may stay older: pgseal restores into PostgreSQL 12 and newer with newer tools.`,
  );
}
