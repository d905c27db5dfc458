// PostgreSQL majors for the test matrix beyond the system's: Debian's newer binaries unpacked into .cache/pg/<major>/, run through their own loader.
//
// Debian 12 ships PostgreSQL 15; trixie has 17 and sid has 18, but their binaries need a newer glibc
// than the host's, so installing them would break the system. Instead: a private apt state (own
// sources.list, lists and cache; /etc/apt is never read for sources nor written), `apt-get download`
// of the packages and their shared-library closure (that suite's glibc included), `dpkg -x` into a
// private root, and wrapper scripts that exec each binary through the root's own dynamic loader.
// Nothing is installed; root is not needed. `node scripts/pg-majors.ts 17 18` runs it alone.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isExecutable } from "../container/src/pg-tools.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
export const PG_CACHE_DIR = join(REPO, ".cache", "pg");
/** Majors the test suite runs its PostgreSQL-facing files against besides the default one (README: testing). */
export const MATRIX_MAJORS = [17, 18] as const;
/** Where each major comes from. sid moves on: when it drops a major, that major needs another source. */
const SUITES: Record<number, { suite: string; release: string }> = {
  17: { suite: "trixie", release: "trixie" },
  18: { suite: "sid", release: "unstable" },
};
const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
const MIRROR = process.env.PGSEAL_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
/** Library packages a client or server never loads (PAM modules, perl, SELinux tools, JIT's libLLVM, …). */
const SKIP =
  /^(libpam-modules.*|lib.*-perl|libperl.*|libsemanage.*|libsepol.*|libdebconfclient0|libdebian-installer4|libnewt.*|libslang.*|libtextwrap1|libsystemd-shared|libproc2.*|libc-bin|libc-l10n|libc-gconv-modules-extra|libllvm.*|libz3-.*|libaudit-common)$/;
const TOOLS = ["pg_dump", "pg_restore", "psql", "postgres", "pg_ctl", "initdb", "pg_dumpall", "pg_isready", "pgbench", "pg_controldata"];
/** Tools that start `postgres` or `pg_dump` from their own directory: they must find the wrapper, not the bare binary. */
const FINDS_SIBLINGS = new Set(["pg_ctl", "initdb", "pg_dumpall"]);
const ARCHES: Record<string, { loader: string; libDir: string }> = {
  amd64: { loader: "usr/lib64/ld-linux-x86-64.so.2", libDir: "usr/lib/x86_64-linux-gnu" },
  arm64: { loader: "usr/lib/ld-linux-aarch64.so.1", libDir: "usr/lib/aarch64-linux-gnu" },
};

export class PgMajorError extends Error {}

/** The majors the matrix runs: PGSEAL_TEST_MATRIX="17 18" (the default), "18", or "" for none. */
export function matrixMajors(env: NodeJS.ProcessEnv = process.env): number[] {
  const raw = env.PGSEAL_TEST_MATRIX;
  if (raw === undefined) return [...MATRIX_MAJORS];
  const majors = raw
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);
  if (majors.some((m) => !Number.isInteger(m) || m < 10)) throw new PgMajorError(`PGSEAL_TEST_MATRIX=${raw}: expected PostgreSQL major versions such as "17 18", or "" for none`);
  return majors;
}

export function cachedBinDir(major: number): string {
  return join(PG_CACHE_DIR, String(major), "bin");
}

/**
 * The bin directory holding PostgreSQL `major` with server tools: the system's own
 * (/usr/lib/postgresql/<major>/bin, e.g. from apt.postgresql.org) first, else the project cache.
 */
export function pgBinDirFor(major: number): string | undefined {
  for (const dir of [join("/usr/lib/postgresql", String(major), "bin"), cachedBinDir(major)]) {
    if (["pg_dump", "pg_restore", "psql", "initdb", "postgres"].every((t) => isExecutable(join(dir, t))) && versionOf(join(dir, "pg_dump"))?.major === major) return dir;
  }
  return undefined;
}

/** Makes PostgreSQL `major` available (see the file comment); fast when it already is. */
export function providePgMajor(major: number, log: (line: string) => void): { binDir: string; version: string; fetched: boolean } {
  const present = pgBinDirFor(major);
  if (present) return { binDir: present, version: versionOf(join(present, "pg_dump"))!.version, fetched: false };
  const source = SUITES[major];
  if (!source)
    throw new PgMajorError(
      `PostgreSQL ${major} is not installed and there is no Debian suite known to provide it (known: ${Object.keys(SUITES).join(", ")}): install it into /usr/lib/postgresql/${major}/bin`,
    );
  if (!which("apt-get") || !which("apt-cache") || !which("dpkg")) {
    throw new PgMajorError(
      `PostgreSQL ${major} for the test matrix is fetched with apt-get and dpkg (Debian/Ubuntu), which are not here: install PostgreSQL ${major} into /usr/lib/postgresql/${major}/bin, or narrow the matrix with PGSEAL_TEST_MATRIX (e.g. PGSEAL_TEST_MATRIX="")`,
    );
  }
  if (!existsSync(KEYRING)) throw new PgMajorError(`${KEYRING} is missing (it verifies Debian's package lists): apt-get install -y debian-archive-keyring`);
  const arch = execFileSync("dpkg", ["--print-architecture"], { encoding: "utf8" }).trim();
  const layout = ARCHES[arch];
  if (!layout) throw new PgMajorError(`no loader layout known for architecture ${arch} (known: ${Object.keys(ARCHES).join(", ")})`);

  const aptDir = join(PG_CACHE_DIR, "apt");
  const opts = aptOptions(aptDir, source.release);
  ensureAptState(aptDir, opts, log);
  const packages = closure(opts, [`postgresql-${major}`, `postgresql-client-${major}`]);
  const final = join(PG_CACHE_DIR, String(major));
  const work = `${final}.partial`;
  rmSync(work, { recursive: true, force: true });
  const debs = join(work, "debs");
  const root = join(work, "root");
  mkdirSync(debs, { recursive: true });
  mkdirSync(root);
  log(`downloading PostgreSQL ${major} from Debian ${source.suite}: ${packages.length} packages`);
  let dl = spawnSync("apt-get", [...opts, "download", ...packages], { cwd: debs, encoding: "utf8" });
  if (dl.status !== 0) {
    // Package lists go stale (sid moves daily): a version they name may be gone from the mirror.
    log(`apt-get download failed; refreshing the package lists once`);
    aptUpdate(opts, log);
    dl = spawnSync("apt-get", [...opts, "download", ...closure(opts, [`postgresql-${major}`, `postgresql-client-${major}`])], { cwd: debs, encoding: "utf8" });
    if (dl.status !== 0) throw new PgMajorError(`apt-get download of PostgreSQL ${major} failed: ${(dl.stderr || dl.stdout).trim().split("\n").slice(-5).join("\n")}`);
  }
  for (const deb of readdirSync(debs).filter((f) => f.endsWith(".deb"))) run("dpkg", ["-x", join(debs, deb), root]);
  rmSync(debs, { recursive: true, force: true });

  const pgRoot = join(root, "usr/lib/postgresql", String(major));
  // trixie's 17 ships its JIT provider, which needs libLLVM (~30 MB more): without it PostgreSQL runs without JIT.
  for (const jit of ["lib/llvmjit.so", "lib/llvmjit_types.bc", "lib/bitcode"]) rmSync(join(pgRoot, jit), { recursive: true, force: true });
  const loader = join(root, layout.loader);
  const libs = join(root, layout.libDir);
  checkLibraries(loader, libs, root, [join(pgRoot, "bin"), join(pgRoot, "lib")]);

  // Wrappers name their final paths: the directory is renamed into place once they work.
  const bin = join(work, "bin");
  mkdirSync(bin);
  const finalRoot = join(final, "root");
  for (const tool of TOOLS) {
    if (!existsSync(join(pgRoot, "bin", tool))) continue;
    writeFileSync(
      join(bin, tool),
      wrapper(
        major,
        tool,
        join(finalRoot, layout.loader),
        join(finalRoot, layout.libDir),
        join(finalRoot, "usr/lib/postgresql", String(major), "bin", tool),
        join(final, "bin", tool),
        join(finalRoot, "usr/share/postgresql", String(major)),
      ),
      { mode: 0o755 },
    );
  }
  rmSync(final, { recursive: true, force: true });
  renameSync(work, final);
  // Servers run as the unprivileged `postgres` user when the tests run as root: it must reach the binaries.
  for (let d = final; d !== dirname(d) && d.startsWith(PG_CACHE_DIR); d = dirname(d)) chmodSync(d, statSync(d).mode | 0o755);
  assertReachableByPostgres(final);
  const found = pgBinDirFor(major);
  if (!found) throw new PgMajorError(`PostgreSQL ${major} was unpacked into ${final}, but its tools do not run; see the output of ${join(final, "bin", "pg_dump")} --version`);
  return { binDir: found, version: versionOf(join(found, "pg_dump"))!.version, fetched: true };
}

/** As root the tests run servers as the `postgres` user (PostgreSQL refuses root), which must reach the binaries. */
function assertReachableByPostgres(dir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) {
      throw new PgMajorError(`the tests run PostgreSQL as the \`postgres\` user, which cannot enter ${d} (not searchable by others) to reach ${dir}: chmod o+x ${d}, or work in a checkout outside it`);
    }
  }
}

function aptOptions(aptDir: string, release: string): string[] {
  const o = (k: string, v: string) => ["-o", `${k}=${v}`];
  return [
    "-q",
    ...o("Dir::Etc::sourcelist", join(aptDir, "sources.list")),
    ...o("Dir::Etc::sourceparts", "-"),
    ...o("Dir::State::Lists", join(aptDir, "lists")),
    ...o("Dir::Cache", join(aptDir, "cache")),
    ...o("APT::Default-Release", release),
    // As root apt drops to the _apt user for downloads, which cannot write into this directory.
    ...(process.getuid?.() === 0 ? o("APT::Sandbox::User", "root") : []),
  ];
}

function ensureAptState(aptDir: string, opts: string[], log: (line: string) => void): void {
  mkdirSync(join(aptDir, "lists", "partial"), { recursive: true });
  mkdirSync(join(aptDir, "cache", "archives", "partial"), { recursive: true });
  const list = Object.values(SUITES)
    .map((s) => `deb [signed-by=${KEYRING}] ${MIRROR} ${s.suite} main\n`)
    .join("");
  const listPath = join(aptDir, "sources.list");
  const changed = !existsSync(listPath) || readFileSync(listPath, "utf8") !== list;
  if (changed) writeFileSync(listPath, list);
  if (changed || !readdirSync(join(aptDir, "lists")).some((f) => f.includes("_Packages"))) aptUpdate(opts, log);
}

function aptUpdate(opts: string[], log: (line: string) => void): void {
  log(`apt-get update (private package lists in ${join(PG_CACHE_DIR, "apt")}, ~20 MB)`);
  const r = spawnSync("apt-get", [...opts, "update"], { encoding: "utf8" });
  if (r.status !== 0)
    throw new PgMajorError(
      `apt-get update of the private package lists failed (is ${MIRROR} reachable? PGSEAL_DEBIAN_MIRROR picks another mirror): ${(r.stderr || r.stdout).trim().split("\n").slice(-5).join("\n")}`,
    );
}

/** The packages plus their shared-library closure: Depends/Pre-Depends (first alternative) through library packages only. */
function closure(opts: string[], packages: string[]): string[] {
  const seen = new Set(packages);
  let level = [...packages];
  while (level.length > 0) {
    const out = run("apt-cache", [...opts, "depends", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", ...level]);
    const next: string[] = [];
    let inAlternative = false;
    for (const line of out.split("\n")) {
      if (/^\S/.test(line)) inAlternative = false;
      const m = /^\s*(\|)?(?:Pre)?Depends:\s+(\S+)/.exec(line);
      if (!m) continue;
      const dep = m[2];
      const skip = inAlternative;
      inAlternative = m[1] === "|";
      if (skip || dep.startsWith("<") || !/^(lib|zlib1g)/.test(dep) || SKIP.test(dep) || seen.has(dep)) continue;
      seen.add(dep);
      next.push(dep);
    }
    level = next;
  }
  return [...seen];
}

/** Every ELF file must resolve all its libraries inside the root, with the root's loader: never the host's glibc. */
function checkLibraries(loader: string, libs: string, root: string, dirs: string[]): void {
  const problems: string[] = [];
  for (const dir of dirs) {
    for (const f of readdirSync(dir)) {
      const path = join(dir, f);
      if (!statSync(path).isFile() || readFileSync(path).subarray(0, 4).toString("latin1") !== "\x7fELF") continue;
      const r = spawnSync(loader, ["--library-path", libs, "--list", path], { encoding: "utf8" });
      if (r.status !== 0) problems.push(`${path}: ${(r.stderr || r.stdout).trim()}`);
      for (const line of r.stdout.split("\n")) {
        const target = /=>\s+(\S+)/.exec(line)?.[1];
        if (target && !target.startsWith(root)) problems.push(`${path}: ${line.trim()} (outside the private root)`);
      }
    }
  }
  if (problems.length) throw new PgMajorError(`libraries missing from the private root:\n${problems.slice(0, 10).join("\n")}`);
}

function wrapper(major: number, tool: string, loader: string, libs: string, exe: string, self: string, share: string): string {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  // --argv0: pg_ctl/initdb/pg_dumpall run their siblings from their own directory, which must be this one.
  const run = `exec ${q(loader)} --library-path ${q(libs)}${FINDS_SIBLINGS.has(tool) ? ` --argv0 ${q(self)}` : ""} ${q(exe)}`;
  const lines = ["#!/bin/sh", `# PostgreSQL ${major} ${tool}, run by its private root's own loader (made by scripts/pg-majors.ts).`];
  if (tool === "initdb") {
    // initdb derives its share directory from its path, which is now this wrapper's: name it (a later -L wins).
    // --version and --help must come first, so they get no -L in front.
    lines.push(`case "$1" in --version|-V|--help|-\\?) ${run} "$@";; esac`, `${run} -L ${q(share)} "$@"`);
  } else {
    lines.push(`${run} "$@"`);
  }
  return `${lines.join("\n")}\n`;
}

function versionOf(pgDump: string): { major: number; version: string } | undefined {
  const r = spawnSync(pgDump, ["--version"], { encoding: "utf8", timeout: 5_000 });
  const version = r.status === 0 ? /\(PostgreSQL\)\s+(\d+(?:\.\d+)*)/.exec(r.stdout)?.[1] : undefined;
  return version ? { major: Number.parseInt(version, 10), version } : undefined;
}

function run(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0)
    throw new PgMajorError(
      `${file} ${args
        .filter((a) => !a.startsWith("-"))
        .slice(0, 3)
        .join(" ")} failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-5).join("\n")}`,
    );
  return r.stdout;
}

function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && isExecutable(join(dir, bin))) return join(dir, bin);
  }
  return undefined;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const majors = process.argv.slice(2).length ? process.argv.slice(2).map(Number) : matrixMajors();
  for (const major of majors) {
    const started = performance.now();
    try {
      const r = providePgMajor(major, (l) => console.error(`pg-majors: ${l}`));
      console.log(`pg-majors: PostgreSQL ${r.version} ${r.fetched ? "fetched into" : "present in"} ${r.binDir} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      console.error(`pg-majors: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    }
  }
}
