// Running libpq tools as child processes: password via env, stderr kept (scrubbed), exit mapped
// to error codes. Classifying a child's stderr is the one place text is inspected, because
// libpq tools report failure kinds only in words.
import { spawn } from "node:child_process";
import { PgsealError, type ErrorCode } from "../../src/shared/errors.ts";
import { libpqEnv, type PgConnection } from "../../src/shared/pg-url.ts";
import { scrub } from "../../src/shared/redact.ts";

export const PG_CONNECT_TIMEOUT_S = 15;
const STDERR_KEEP_BYTES = 64 * 1024;

export function pgEnv(conn: PgConnection): NodeJS.ProcessEnv {
  // PGCONNECT_TIMEOUT bounds the wait for an unreachable host; PGAPPNAME shows who we are in pg_stat_activity.
  return { ...process.env, ...libpqEnv(conn), PGCONNECT_TIMEOUT: String(PG_CONNECT_TIMEOUT_S), PGAPPNAME: "pgseal" };
}

export function classifyPgFailure(stderr: string): ErrorCode | undefined {
  // pg_dump --lock-wait-timeout sets statement_timeout around its LOCK TABLE statements; older servers say "could not obtain lock".
  if (/could not obtain lock on relation|due to lock timeout|due to statement timeout[\s\S]*Query was: LOCK TABLE/i.test(stderr)) return "PG_LOCK_TIMEOUT";
  if (/password authentication failed|no password supplied|authentication failed|role ".*" does not exist|pg_hba\.conf rejects/i.test(stderr)) return "PG_AUTH_FAILED";
  if (/server version mismatch/i.test(stderr)) return "PG_DUMP_TOO_OLD";
  if (/database ".*" does not exist/i.test(stderr)) return "PG_DATABASE_NOT_FOUND";
  // A restart or failover mid-dump: the session was cut, not refused.
  if (
    /server closed the connection unexpectedly|terminating connection due to administrator command|connection to server was lost|could not receive data from server|SSL SYSCALL error: EOF detected/i.test(
      stderr,
    )
  )
    return "PG_CONNECTION_LOST";
  if (/could not translate host name|Connection refused|could not connect to server|timeout expired|Network is unreachable|No route to host|Connection timed out/i.test(stderr))
    return "PG_UNREACHABLE";
  return undefined;
}

/** Collects a child's stderr (bounded, secrets removed) and reports lines as they arrive. */
export class StderrLog {
  #text = "";
  #partial = "";
  #secrets: string[];
  #onLine?: (line: string) => void;

  constructor(secrets: (string | undefined)[], onLine?: (line: string) => void) {
    this.#secrets = secrets.filter((s): s is string => !!s);
    this.#onLine = onLine;
  }

  push(chunk: Buffer | string): void {
    const text = scrub(String(chunk), this.#secrets);
    this.#text = (this.#text + text).slice(-STDERR_KEEP_BYTES);
    const lines = (this.#partial + text).split("\n");
    this.#partial = lines.pop() ?? "";
    for (const l of lines) this.#onLine?.(l);
  }

  tail(lines = 8): string {
    return this.#text.trim().split("\n").slice(-lines).join("\n");
  }

  get text(): string {
    return this.#text;
  }
}

export function pgFailure(tool: string, fallback: ErrorCode, redactedUrl: string, log: StderrLog, exit: string): PgsealError {
  const code = classifyPgFailure(log.text) ?? fallback;
  const hint: Partial<Record<ErrorCode, string>> = {
    PG_AUTH_FAILED: "check the user and password in the database URL",
    PG_UNREACHABLE: "check the host and port, and that the server accepts connections from here",
    PG_DATABASE_NOT_FOUND: "check the database name in the URL; a restore target must be created first (createdb)",
    PG_CONNECTION_LOST: "the server closed the connection mid-dump (a restart or failover?); the job retries",
    PG_LOCK_TIMEOUT: "another session held a table lock longer than the lock wait timeout (lockWaitTimeoutSeconds); find it in pg_locks or raise the timeout",
  };
  const detail = log.tail() || `${tool} ${exit}`;
  return new PgsealError(code, `${tool} failed for ${redactedUrl}${hint[code] ? ` (${hint[code]})` : ""}: ${detail}`);
}

/** Runs psql with one statement and returns its unaligned, tuples-only output. */
export function runPsql(psql: string, conn: PgConnection, sql: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(psql, ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql, "--dbname", conn.urlWithoutPassword], {
      env: pgEnv(conn),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const log = new StderrLog([conn.password]);
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => log.push(d));
    child.on("error", (e) => reject(new PgsealError("PG_TOOLS_MISSING", `could not run ${psql}: ${e.message}`)));
    child.on("close", (code, signal) => {
      if (code === 0) resolve(out.trim());
      else reject(pgFailure("psql", "PG_DUMP_FAILED", conn.redacted, log, signal ? `killed by ${signal}` : `exited with ${code}`));
    });
  });
}
