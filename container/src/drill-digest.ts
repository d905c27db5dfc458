// After a drill restore: read every table back as COPY text under pg_dump's session settings, hash it as the dump inventory did, and compare.
import { spawn } from "node:child_process";
import type { ContentCheck } from "../../src/shared/catalog/drill-record.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import type { PgConnection } from "../../src/shared/pg-url.ts";
import { pgEnv, StderrLog } from "./pg-process.ts";
import type { PgTools } from "./pg-tools.ts";
import { runCommand } from "./run-command.ts";
import { combineLargeObjects, CONTENT_DIGEST, PlainDigest } from "./stages/copy-digest.ts";
import type { DumpInventory } from "./stages/dump-inventory.ts";

const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const LETTER_P = 0x50;
/**
 * Printed by psql after each table's COPY output. In COPY text a backslash is always followed by
 * one of b f n r t v N \ (or is doubled), so no row can begin with "\P": the marker is unambiguous.
 */
const MARKER = Buffer.from("\\P\n");
const MARKER_COMMAND = String.raw`\qecho '\\P'`;

const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;
const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** Why this inventory cannot be compared by content (no table names: it goes into plaintext records), or null. */
export function contentUnavailable(expected: DumpInventory): string | null {
  if (expected.contentDigest !== CONTENT_DIGEST || !expected.encoding || !expected.largeObjectData) {
    return "the backup's inventory has no content digests (made by an older pgseal): row counts were compared, not contents";
  }
  if (!expected.session) return "the source session's TimeZone and bytea_output were not recorded, so its COPY text cannot be reproduced: row counts were compared, not contents";
  const missing = expected.tables.filter((t) => t.sha256 === undefined || t.columns === undefined).length;
  if (missing > 0) return `${missing} table(s) of the dump have no content digest (their COPY statement could not be read): row counts were compared, not contents`;
  return null;
}

/** The settings pg_dump's session had when it wrote the COPY text (pg_dump.c setup_connection), plus the recorded ones. */
export function sessionSql(expected: DumpInventory): string {
  const s = expected.session!;
  return [
    `SET client_encoding = ${literal(expected.encoding!)};`,
    "SET DateStyle = 'ISO';",
    "SET IntervalStyle = 'postgres';",
    "SET extra_float_digits = 3;",
    // pg_dump turns synchronized scans off "to prevent unpredictable changes in row ordering across a dump and reload": we read in heap order too.
    "SET synchronize_seqscans = off;",
    "SET row_security = off;",
    "SET search_path = '';",
    `SET TimeZone = ${literal(s.timeZone)};`,
    `SET bytea_output = ${literal(s.byteaOutput)};`,
    "SET statement_timeout = 0;",
  ].join("\n");
}

/** Splits psql's stdout at the markers and hashes each table's part; whole chunks go to the hash, never rows, and nothing is copied but a marker's first bytes. */
export class TableSplitter {
  readonly results: { sha256: string; bytes: number }[] = [];
  #digest = new PlainDigest();
  /** The last one or two bytes seen, when they could begin a marker. */
  #pending: Buffer = Buffer.alloc(0);
  /** The byte before the unhashed data: a marker counts only at the start of a line. */
  #before = NEWLINE;

  push(chunk: Buffer): void {
    // `pending` is rarely set (a chunk ending in a line that starts "\\" or "\\P"): copying then is cheap.
    const buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    const lineStart = (at: number) => (at === 0 ? this.#before : buf[at - 1]) === NEWLINE;
    let from = 0;
    for (let p = buf.indexOf(MARKER); p !== -1; p = buf.indexOf(MARKER, p + 1)) {
      if (!lineStart(p)) continue;
      this.#digest.add(buf.subarray(from, p));
      this.#end();
      from = p + MARKER.length;
    }
    // Bytes at the end that may begin a marker the next chunk completes wait for it.
    const n = buf.length;
    let hold = 0;
    if (n >= 2 && buf[n - 2] === BACKSLASH && buf[n - 1] === LETTER_P && lineStart(n - 2)) hold = 2;
    else if (n >= 1 && buf[n - 1] === BACKSLASH && lineStart(n - 1)) hold = 1;
    const keep = Math.max(from, n - hold);
    this.#digest.add(buf.subarray(from, keep));
    if (keep > 0) this.#before = buf[keep - 1];
    this.#pending = Buffer.from(buf.subarray(keep));
  }

  #end(): void {
    this.results.push({ sha256: this.#digest.finish(), bytes: this.#digest.bytes });
    this.#digest = new PlainDigest();
    this.#before = NEWLINE;
  }

  get leftover(): number {
    return this.#pending.length + this.#digest.bytes;
  }
}

/** psql sessions the read-back is split across: one per core of the drill machine (2), the largest table alone in one when it outweighs the rest. */
export const READBACK_SESSIONS = 2;

/**
 * Indexes of `tables` in `sessions` groups balanced by their recorded COPY text bytes: heaviest
 * first, each onto the lightest group so far. Each group keeps the tables' original order.
 */
export function balanceTables(tables: readonly { bytes?: number }[], sessions = READBACK_SESSIONS): number[][] {
  const groups = Array.from({ length: Math.max(1, sessions) }, () => ({ bytes: 0, tables: [] as number[] }));
  const heaviestFirst = tables.map((t, i) => ({ i, bytes: t.bytes ?? 0 })).sort((a, b) => b.bytes - a.bytes || a.i - b.i);
  for (const t of heaviestFirst) {
    const lightest = groups.reduce((min, g) => (g.bytes < min.bytes ? g : min));
    lightest.bytes += t.bytes;
    lightest.tables.push(t.i);
  }
  return groups.map((g) => g.tables.sort((a, b) => a - b)).filter((g) => g.length > 0);
}

/** Every table's COPY text digest, in the order given, from one psql session; `signal` kills the session (a sibling session failed). */
export async function hashTables(tools: PgTools, conn: PgConnection, expected: DumpInventory, tables: DumpInventory["tables"], signal?: AbortSignal): Promise<{ sha256: string; bytes: number }[]> {
  if (tables.length === 0) return [];
  const script = [sessionSql(expected), ...tables.map((t) => `COPY ${ident(t.schema)}.${ident(t.name)} ${t.columns} TO STDOUT;\n${MARKER_COMMAND}`)].join("\n") + "\n";
  const child = spawn(tools.psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password", "-d", conn.urlWithoutPassword, "-f", "-"], { env: pgEnv(conn), stdio: ["pipe", "pipe", "pipe"] });
  const stop = () => child.kill("SIGKILL");
  signal?.addEventListener("abort", stop, { once: true });
  const splitter = new TableSplitter();
  const log = new StderrLog([conn.password]);
  child.stdout.on("data", (d: Buffer) => splitter.push(d));
  child.stderr.on("data", (d) => log.push(d));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", (e) => reject(new PgsealError("PG_TOOLS_MISSING", `could not run ${tools.psql}: ${e.message}`)));
    child.on("close", (code) => resolve(code));
  });
  // EPIPE when psql dies early is reported through its exit status below.
  child.stdin.on("error", () => {});
  child.stdin.end(script);
  const code = await exited.finally(() => signal?.removeEventListener("abort", stop));
  if (signal?.aborted) throw signal.reason;
  if (code !== 0) {
    throw new PgsealError(
      "DRILL_FAILED",
      `reading the restored tables back for their content digest failed (on a scratch server, drill as a role that may read every restored table and bypass row security): ${log.tail(4) || `psql exited with ${code}`}`,
    );
  }
  if (splitter.results.length !== tables.length || splitter.leftover !== 0) {
    throw new PgsealError("DRILL_FAILED", `reading the restored tables back gave ${splitter.results.length} of ${tables.length} tables: psql's output was not what pgseal expects`);
  }
  return splitter.results;
}

/**
 * Every table's digest, in the inventory's order, read by READBACK_SESSIONS psql sessions at once
 * (balanced by recorded bytes). The first session to fail stops the others; all have exited when this settles.
 */
export async function hashTablesInSessions(tools: PgTools, conn: PgConnection, expected: DumpInventory, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }[]> {
  const tables = expected.tables;
  const stopAll = new AbortController();
  const onOuter = () => stopAll.abort(signal!.reason);
  signal?.addEventListener("abort", onOuter, { once: true });
  const results: { sha256: string; bytes: number }[] = new Array(tables.length);
  try {
    const sessions = balanceTables(tables).map(async (group) => {
      try {
        const got = await hashTables(
          tools,
          conn,
          expected,
          group.map((i) => tables[i]),
          stopAll.signal,
        );
        for (const [k, i] of group.entries()) results[i] = got[k];
      } catch (e) {
        stopAll.abort(e);
        throw e;
      }
    });
    await Promise.allSettled(sessions);
    // Every failure aborts stopAll, with the first as the reason: the cause; the others were stopped because of it.
    if (stopAll.signal.aborted) throw stopAll.signal.reason;
    return results;
  } finally {
    signal?.removeEventListener("abort", onOuter);
  }
}

/**
 * Every large object's data, combined as the dump inventory combines it. lo_get reads an object
 * whole: one over 1 GB cannot be read this way and fails the check (documented in docs/DRILLS.md).
 */
export async function hashLargeObjects(tools: PgTools, conn: PgConnection): Promise<{ sha256: string; bytes: number; count: number }> {
  const sql = "SELECT oid, length(b), encode(sha256(b), 'hex') FROM (SELECT oid, lo_get(oid) AS b FROM pg_largeobject_metadata) lo;";
  const r = await runCommand(tools.psql, ["-X", "-A", "-t", "-q", "-F", " ", "-v", "ON_ERROR_STOP=1", "--no-password", "-d", conn.urlWithoutPassword, "-f", "-"], { env: pgEnv(conn), input: sql });
  if (r.code !== 0) {
    throw new PgsealError(
      "DRILL_FAILED",
      `reading the restored large objects back failed (lo_get reads an object whole, so one over 1 GB cannot be compared; see docs/DRILLS.md): ${r.stderr.trim().slice(-300)}`,
    );
  }
  const objects = r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const [oid, bytes, sha256] = l.split(" ");
      return { oid: Number(oid), bytes: Number(bytes), sha256 };
    });
  return combineLargeObjects(objects);
}

/**
 * The content comparison of a restore whose counts already matched: every table's COPY text and
 * every large object's bytes against the digests taken while the dump streamed. Sequences are
 * compared by value in drill-compare.ts, which is exact already.
 */
export async function compareContent(tools: PgTools, conn: PgConnection, expected: DumpInventory, signal?: AbortSignal): Promise<ContentCheck> {
  const started = performance.now();
  const seconds = () => Math.round(performance.now() - started) / 1000;
  const unavailable = contentUnavailable(expected);
  if (unavailable) return { proof: "counts-only", reason: unavailable, tables: 0, bytes: 0, seconds: 0, mismatched: [], largeObjects: null };
  const actual = await hashTablesInSessions(tools, conn, expected, signal);
  const mismatched: ContentCheck["mismatched"] = [];
  let bytes = 0;
  expected.tables.forEach((t, i) => {
    bytes += actual[i].bytes;
    if (actual[i].sha256 !== t.sha256) mismatched.push({ table: `${t.schema}.${t.name}`, expected: t.sha256!, actual: actual[i].sha256 });
  });
  const lo = expected.largeObjectData!;
  const los = lo.count > 0 ? await hashLargeObjects(tools, conn) : { sha256: lo.sha256, bytes: 0, count: 0 };
  bytes += los.bytes;
  return {
    proof: "content-exact",
    digest: CONTENT_DIGEST,
    tables: expected.tables.length,
    bytes,
    seconds: seconds(),
    mismatched,
    largeObjects: { count: lo.count, bytes: lo.bytes, match: los.sha256 === lo.sha256 },
  };
}
