// PostgreSQL connection URLs: validation, Neon pooler rewrite, and splitting the password out
// so it travels to libpq tools in PGPASSWORD instead of argv (argv is visible in `ps`).
import { PgsealError } from "./errors.ts";
import { redactUrl } from "./redact.ts";

export interface PgConnection {
  /** URL without the password: safe for argv, still not for logs (use `redacted`). */
  urlWithoutPassword: string;
  password: string | undefined;
  host: string;
  database: string;
  redacted: string;
  notices: string[];
}

/** Neon's `-pooler` endpoint is PgBouncer in transaction mode, which pg_dump cannot use. */
function rewriteNeonPooler(url: URL, notices: string[]): void {
  const m = /^(ep-[a-z0-9-]+?)-pooler(\..*\.neon\.tech)$/i.exec(url.hostname);
  if (!m) return;
  const direct = m[1] + m[2];
  notices.push(`Neon pooled host ${url.hostname} rewritten to the direct endpoint ${direct}: pg_dump needs a session, not PgBouncer transaction mode`);
  url.hostname = direct;
}

export function parsePgUrl(raw: string, what = "database URL"): PgConnection {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new PgsealError("USAGE", `${what} is not a URL: expected postgres://user:password@host:5432/dbname`);
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new PgsealError("USAGE", `${what} must start with postgres:// or postgresql:// (got ${url.protocol}//…)`);
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  const hostParam = url.searchParams.get("host");
  if (!url.hostname && !hostParam) throw new PgsealError("USAGE", `${what} ${redactUrl(raw)} names no host`);
  if (!database) throw new PgsealError("USAGE", `${what} ${redactUrl(raw)} names no database (add /dbname after the host)`);
  const notices: string[] = [];
  rewriteNeonPooler(url, notices);
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  const redacted = redactUrl(url.toString());
  url.password = "";
  return { urlWithoutPassword: url.toString(), password, host: url.hostname || hostParam!, database, redacted, notices };
}

/** Environment for libpq tools: the password goes here, never into argv. */
export function libpqEnv(conn: PgConnection): Record<string, string> {
  return conn.password === undefined ? {} : { PGPASSWORD: conn.password };
}
