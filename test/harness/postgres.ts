// Throwaway PostgreSQL clusters for tests and the demo: initdb in a temp dir, loopback only, stopped by PID.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findPgTools, type PgTools } from "../../container/src/pg-tools.ts";
import { pgBinDir, testPgMajor } from "./pg-major.ts";
import { freePorts, runCommand, systemUser, type SystemUser } from "./ports.ts";
import { signalGroup, sleep, track, waitGone } from "./registry.ts";

export interface PgCluster {
  /** Superuser URL of the `postgres` database over TCP with the password: never print it. */
  url: string;
  port: number;
  socketDir: string;
  dataDir: string;
  tools: PgTools;
  superuser: string;
  password: string;
  /** Creates the database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  urlFor(db: string): string;
  /** Runs SQL through psql -X -A -t -q -v ON_ERROR_STOP=1 over the unix socket; resolves with stdout. */
  psql(sql: string, db?: string): Promise<string>;
  /** Same as psql() for a file of SQL (e.g. test/fixtures/seed.sql). */
  psqlFile(path: string, db?: string): Promise<string>;
  /** psql argument list (without -c/-f) for callers that stream output themselves. */
  psqlArgs(db?: string): string[];
  stop(): Promise<void>;
}

const SUPERUSER = "pgseal_test";
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const READY_POLL_MS = 25;
const START_ATTEMPTS = 3;
// Durability is worthless for a throwaway cluster; speed and a small footprint are what count.
const SERVER_SETTINGS = {
  listen_addresses: "127.0.0.1",
  fsync: "off",
  synchronous_commit: "off",
  full_page_writes: "off",
  shared_buffers: "16MB",
  max_connections: "50",
  max_wal_size: "256MB",
  log_min_messages: "warning",
  unix_socket_permissions: "0777",
} as const;

export interface StartOptions {
  name?: string;
  /** This major's server and tools (cross-version tests); default: PGSEAL_TEST_PG's, else the newest installed. */
  major?: number;
}

export async function startPostgres(opts: StartOptions = {}): Promise<PgCluster> {
  const major = opts.major ?? testPgMajor();
  const tools = await findPgTools({ needServer: true, ...(major !== undefined ? { binDir: pgBinDir(major) } : {}) });
  const root = mkdtempSync(join(tmpdir(), `pgseal-pg-${opts.name ?? "test"}-`));
  const dataDir = join(root, "data");
  const socketDir = join(root, "run");
  const logPath = join(root, "postgres.log");
  mkdirSync(socketDir);
  // PostgreSQL refuses to run as root: use Debian's `postgres` user for the server processes.
  const runAs = process.getuid?.() === 0 ? systemUser("postgres") : undefined;
  if (process.getuid?.() === 0 && !runAs) {
    rmSync(root, { recursive: true, force: true });
    throw new Error("running as root, but there is no `postgres` system user to run PostgreSQL as (apt-get install -y postgresql creates it)");
  }
  const ids = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  const password = randomBytes(18).toString("base64url");
  try {
    if (runAs) for (const p of [root, socketDir]) chownSync(p, runAs.uid, runAs.gid);
    await initCluster(tools, root, dataDir, password, runAs);
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw e;
  }

  const launched = await launchWithFreePort(tools, { root, dataDir, socketDir, logPath, ids });
  const { port, pid } = launched;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // Untracked only once gone: a process.exit() during this stop must still find it (see s3.ts).
      await shutdown(pid);
      rmSync(root, { recursive: true, force: true, maxRetries: 3 });
      untrack();
    })());
  const untrack = track({ label: `postgres ${port}`, pids: [pid], urgentSignal: "SIGQUIT", dir: root, stop });
  launched.untrackLaunch();

  const urlFor = (db: string): string => `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;
  const psqlArgs = (db = "postgres"): string[] => ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", socketDir, "-p", String(port), "-U", SUPERUSER, "-d", db];
  const runPsql = async (args: string[], input: string | undefined, what: string): Promise<string> => {
    const r = await runCommand(tools.psql, args, { env: clientEnv(), input });
    if (r.code !== 0) throw new Error(`psql failed (${what}, exit ${r.code}): ${r.stderr.trim()}`);
    return r.stdout.endsWith("\n") ? r.stdout.slice(0, -1) : r.stdout;
  };
  return {
    url: urlFor("postgres"),
    port,
    socketDir,
    dataDir,
    tools,
    superuser: SUPERUSER,
    password,
    urlFor,
    psqlArgs,
    psql: (sql, db) => runPsql([...psqlArgs(db), "-f", "-"], sql, `in ${db ?? "postgres"}`),
    psqlFile: (path, db) => runPsql([...psqlArgs(db), "-f", path], undefined, `${path} in ${db ?? "postgres"}`),
    async createDatabase(name) {
      await runPsql([...psqlArgs("postgres"), "-f", "-"], `CREATE DATABASE ${quoteIdent(name)}`, `create database ${name}`);
      return urlFor(name);
    },
    stop,
  };
}

interface Layout {
  root: string;
  dataDir: string;
  socketDir: string;
  logPath: string;
  ids: { uid?: number; gid?: number };
}

/**
 * Starts the postmaster on a port found free a moment ago and waits until it accepts connections.
 * Someone may take that port in between: then the postmaster exits at once, and we try another.
 */
async function launchWithFreePort(tools: PgTools, l: Layout): Promise<{ port: number; pid: number; untrackLaunch: () => void }> {
  const settings = Object.entries(SERVER_SETTINGS).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  for (let attempt = 1; ; attempt++) {
    const [port] = await freePorts(1);
    const logStart = existsSync(l.logPath) ? statSync(l.logPath).size : 0;
    const logFd = openSync(l.logPath, "a");
    const child = spawn(tools.postgres, ["-D", l.dataDir, "-p", String(port), "-k", l.socketDir, ...settings], {
      cwd: l.root,
      detached: true, // its own process group, so one signal reaches every backend
      stdio: ["ignore", logFd, logFd],
      env: serverEnv(),
      ...l.ids,
    });
    closeSync(logFd);
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start ${tools.postgres}`);
    let exited = false;
    child.on("exit", () => {
      exited = true;
    });
    // Covered from the first moment: an owner dying during startup must not leave this server behind.
    const untrackLaunch = track({ label: `postgres ${port} (starting)`, pids: [pid], urgentSignal: "SIGQUIT", dir: l.root, stop: () => shutdown(pid) });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!isReady(l.dataDir) && !exited && Date.now() < deadline) await sleep(READY_POLL_MS);
    if (!exited && isReady(l.dataDir)) return { port, pid, untrackLaunch };
    untrackLaunch();
    await shutdown(pid);
    const log = readFileSync(l.logPath).subarray(logStart).toString("utf8");
    if (exited && /already in use/.test(log) && attempt < START_ATTEMPTS) continue;
    rmSync(l.root, { recursive: true, force: true });
    const tail = log.trimEnd().split("\n").slice(-20).join("\n");
    throw new Error(`PostgreSQL on port ${port} ${exited ? "exited" : "did not become ready"} during startup; log tail:\n${tail}`);
  }
}

async function shutdown(pid: number): Promise<void> {
  signalGroup(pid, "SIGINT"); // fast shutdown: abort transactions, checkpoint, exit
  if (!(await waitGone([pid], STOP_TIMEOUT_MS))) signalGroup(pid, "SIGKILL");
  await waitGone([pid], STOP_TIMEOUT_MS);
  signalGroup(pid, "SIGKILL"); // stray backends, if the postmaster died first
}

async function initCluster(tools: PgTools, root: string, dataDir: string, password: string, runAs: SystemUser | undefined): Promise<void> {
  const pwfile = join(root, "pwfile");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
  const args = ["-D", dataDir, "-U", SUPERUSER, `--pwfile=${pwfile}`, "-E", "UTF8", "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"];
  const r = await runCommand(tools.initdb, args, { cwd: root, env: serverEnv(), uid: runAs?.uid, gid: runAs?.gid });
  rmSync(pwfile, { force: true });
  if (r.code !== 0) throw new Error(`initdb failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
}

/** postmaster.pid's 8th line turns "ready" once the server accepts connections (PostgreSQL 10+). */
function isReady(dataDir: string): boolean {
  try {
    return readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[7]?.trim() === "ready";
  } catch {
    return false;
  }
}

/** Without the caller's PG* variables, which would otherwise redirect psql or initdb. */
function clientEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("PG")) env[k] = v;
  return env;
}

function serverEnv(): NodeJS.ProcessEnv {
  return { ...clientEnv(), LC_ALL: "C", LANG: "C" };
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
