// Where a drill restores: a throwaway cluster (initdb in a temp dir, unix socket only), or a fresh database on a scratch server.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PgsealError } from "../../src/shared/errors.ts";
import { parsePgUrl, type PgConnection } from "../../src/shared/pg-url.ts";
import { scrub } from "../../src/shared/redact.ts";
import { classifyPgFailure, pgEnv } from "./pg-process.ts";
import type { PgTools } from "./pg-tools.ts";
import { runCommand, systemUser } from "./run-command.ts";

export const DRILL_READY_TIMEOUT_MS = 60_000;
const DRILL_STOP_TIMEOUT_MS = 30_000;
const POLL_MS = 25;
const SUPERUSER = "pgseal_drill";
/** With listen_addresses='' the port only names the socket file in our private directory: no clash possible. */
const SOCKET_PORT = 5432;
// Durability is worthless for a cluster deleted minutes later; speed is what counts.
const DRILL_SETTINGS = {
  listen_addresses: "",
  fsync: "off",
  synchronous_commit: "off",
  full_page_writes: "off",
  wal_level: "minimal",
  max_wal_senders: "0",
  max_wal_size: "4GB",
  checkpoint_timeout: "1h",
  autovacuum: "off",
  maintenance_work_mem: "256MB",
  shared_buffers: "128MB",
  log_min_messages: "warning",
  unix_socket_permissions: "0700",
} as const;

export interface DrillTarget {
  /** What the drill record says about where it restored. */
  kind: "local-cluster" | "scratch-database";
  conn: PgConnection;
  /** Stops and deletes the cluster, or drops the scratch database; safe to call twice, never throws. */
  dispose(): Promise<void>;
}

/**
 * The cluster has its own process group (so one signal reaches every backend), which also means
 * nothing stops it if this process is killed outright (SIGKILL, OOM): a detached watchdog does.
 * It polls our pid; once we are gone it fast-stops the postmaster (its pid from postmaster.pid),
 * kills it after 30 s, and removes the cluster's directory. It exits by itself once the directory
 * is gone (a normal dispose), so it is started with the directory, before initdb.
 */
function watchParent(root: string): void {
  const script = [
    'while kill -0 "$PARENT" 2>/dev/null && [ -d "$ROOT" ]; do sleep 1; done',
    '[ -d "$ROOT" ] || exit 0',
    'PG=$(head -n 1 "$ROOT/data/postmaster.pid" 2>/dev/null)',
    'if [ -n "$PG" ] && kill -0 "$PG" 2>/dev/null; then',
    '  kill -INT "$PG" 2>/dev/null; i=0',
    '  while kill -0 "$PG" 2>/dev/null && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done',
    '  kill -KILL -"$PG" 2>/dev/null; kill -KILL "$PG" 2>/dev/null',
    "fi",
    'rm -rf "$ROOT"',
  ].join("\n");
  try {
    const w = spawn("/bin/sh", ["-c", script], { detached: true, stdio: "ignore", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PARENT: String(process.pid), ROOT: root } });
    w.on("error", (e) => console.error(`pgseal: the drill cluster's watchdog did not start: ${e.message}`));
    w.unref();
  } catch (e) {
    // Without it a SIGKILL of this process can leave the cluster running; the drill itself is unaffected.
    console.error(`pgseal: the drill cluster's watchdog did not start: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Bytes free where a local drill cluster would live. */
export function freeDiskBytes(dir = tmpdir()): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * A new cluster in a temp dir. PostgreSQL refuses to run as root: then the `postgres` system user
 * owns it (the image runs as `node`, so this is for CLI users and tests running as root).
 */
export async function startDrillCluster(tools: PgTools, onLog?: (line: string) => void): Promise<DrillTarget> {
  const root = mkdtempSync(join(tmpdir(), "pgseal-drill-"));
  watchParent(root);
  const dataDir = join(root, "data");
  const socketDir = join(root, "run");
  mkdirSync(socketDir);
  const isRoot = process.getuid?.() === 0;
  const runAs = isRoot ? systemUser("postgres") : undefined;
  const cleanup = () => rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  if (isRoot && !runAs) {
    cleanup();
    throw new PgsealError("DRILL_FAILED", "running as root, but there is no `postgres` system user to run the drill cluster as");
  }
  const ids = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  if (runAs) for (const p of [root, socketDir]) chownSync(p, runAs.uid, runAs.gid);
  const env = { PATH: process.env.PATH ?? "", LC_ALL: "C", LANG: "C" };
  const init = await runCommand(tools.initdb, ["-D", dataDir, "-U", SUPERUSER, "-E", "UTF8", "--no-locale", "--auth=trust", "--no-sync"], { cwd: root, env, ...ids });
  if (init.code !== 0) {
    cleanup();
    throw new PgsealError("DRILL_FAILED", `initdb for the drill cluster failed (exit ${init.code}): ${(init.stderr || init.stdout).trim().slice(-500)}`);
  }
  const logPath = join(root, "postgres.log");
  const logFd = openSync(logPath, "a");
  const settings = Object.entries(DRILL_SETTINGS).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  const child = spawn(tools.postgres, ["-D", dataDir, "-p", String(SOCKET_PORT), "-k", socketDir, ...settings], {
    cwd: root,
    detached: true, // one signal reaches every backend
    stdio: ["ignore", logFd, logFd],
    env,
    ...ids,
  });
  closeSync(logFd);
  child.unref();
  const pid = child.pid;
  let exited = pid === undefined;
  child.on("exit", () => (exited = true));
  child.on("error", () => (exited = true));

  let disposed: Promise<void> | undefined;
  const dispose = () =>
    (disposed ??= (async () => {
      if (pid !== undefined && !exited) {
        // Immediate shutdown: the cluster is deleted next, so the shutdown checkpoint a fast one writes is wasted time.
        signal(pid, "SIGQUIT");
        if (!(await until(() => exited, DRILL_STOP_TIMEOUT_MS))) signal(pid, "SIGKILL");
        await until(() => exited, DRILL_STOP_TIMEOUT_MS);
      }
      if (pid !== undefined) signal(pid, "SIGKILL"); // stray backends of a postmaster that died first
      cleanup();
    })());

  const ready = await until(() => exited || isReady(dataDir), DRILL_READY_TIMEOUT_MS);
  if (!ready || exited) {
    const tail = safeRead(logPath).trimEnd().split("\n").slice(-15).join("\n");
    await dispose();
    throw new PgsealError("DRILL_FAILED", `the drill cluster did not start: ${tail || "no log"}`);
  }
  onLog?.(`drill cluster: PostgreSQL ${tools.version} in ${root} (unix socket only)`);
  const conn = parsePgUrl(`postgresql://${SUPERUSER}@localhost/postgres?host=${encodeURIComponent(socketDir)}&port=${SOCKET_PORT}`, "drill cluster");
  return { kind: "local-cluster", conn, dispose };
}

/** A fresh, uniquely named database on a scratch server the user provides; dropped afterwards. */
export async function createScratchDatabase(tools: PgTools, scratchUrl: string): Promise<DrillTarget> {
  const admin = parsePgUrl(scratchUrl, "drill scratch URL");
  const name = `pgseal_drill_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const run = (sql: string) => runCommand(tools.psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password", "-d", admin.urlWithoutPassword, "-c", sql], { env: pgEnv(admin) });
  const created = await run(`CREATE DATABASE ${name}`);
  if (created.code !== 0) {
    // The drill never ran: a wrong password or an unreachable server must not read as a verdict on the backup.
    const stderr = scrub(created.stderr, [admin.password]).trim().slice(-300);
    const code = classifyPgFailure(stderr) === "PG_AUTH_FAILED" ? "DRILL_TARGET_AUTH_FAILED" : "DRILL_TARGET_UNREACHABLE";
    throw new PgsealError(code, `could not create a scratch database on ${admin.redacted}: ${stderr}`);
  }
  const conn = parsePgUrl(withDatabase(scratchUrl, name), "drill scratch URL");
  let disposed: Promise<void> | undefined;
  return {
    kind: "scratch-database",
    conn,
    dispose: () => (disposed ??= run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined)),
  };
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.href;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}

function isReady(dataDir: string): boolean {
  return safeRead(join(dataDir, "postmaster.pid")).split("\n")[7]?.trim() === "ready";
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return true;
}
