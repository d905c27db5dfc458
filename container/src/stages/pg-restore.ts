// Pipeline sink: a custom-format dump streamed into `pg_restore` on stdin, in one transaction; and what it takes across PostgreSQL majors.
//
// Two version facts are settled here, before pg_restore starts: the archive must be one this
// pg_restore reads (its first bytes say which), and a target server older than the tools must not
// be sent what it does not know. pg_restore 17+ opens every session with `SET transaction_timeout = 0`,
// which PostgreSQL 12–16 reject; under --single-transaction --exit-on-error that ends the restore.
// So into such a server the archive goes through pg_restore as SQL, without that one preamble line,
// into psql (same tools, same single transaction, stops at the first error).
import { spawn, type ChildProcess } from "node:child_process";
import { pipeline, Transform, Writable } from "node:stream";
import { PgsealError } from "../../../src/shared/errors.ts";
import { isConsequenceError } from "../../../src/shared/pipeline/pipeline.ts";
import type { PgConnection } from "../../../src/shared/pg-url.ts";
import { pgEnv, pgFailure, runPsql, StderrLog } from "../pg-process.ts";
import { installHint, minRestoreMajor, readArchiveVersion, type ArchiveVersion, type PgTools } from "../pg-tools.ts";

export interface RestoreOptions {
  clean?: boolean;
  noOwner?: boolean;
  noAcl?: boolean;
  /**
   * Drills: run every TOC entry even after an error (no single transaction) and report the errors
   * instead of failing, so the drill can tell a missing role from a missing extension from data loss.
   */
  keepGoing?: boolean;
}

export interface RestoreError {
  message: string;
  /** The SQL pg_restore ran ("Command was: …"), when it says. */
  command?: string;
}

export interface PgRestoreSink {
  writable: WritableStream<Uint8Array>;
  /** Resolves with pg_restore's output lines once it exited 0 (or, with keepGoing, after ignored errors). */
  done: Promise<{ warnings: string[]; errors: RestoreError[] }>;
  /** Kills pg_restore (and psql) now, so the transaction rolls back, even while a write is parked on a full pipe. */
  stop(reason: unknown): void;
}

/** The first major whose sessions set transaction_timeout, and whose servers know it. */
const TRANSACTION_TIMEOUT_SINCE = 17;
/** The preamble line a pre-17 server rejects; nothing else in pg_restore's preamble is new since 12. */
const TRANSACTION_TIMEOUT_SET = "SET transaction_timeout = 0;";
/** Enough bytes for "PGDMP" and the version bytes. */
const HEADER_BYTES = 8;
/** How long a broken pipe waits for pg_restore's own exit status before pg_restore is killed. */
const CONSEQUENCE_GRACE_MS = 2000;

/** The errors pg_restore reports and then ignores: "pg_restore: error: could not execute query: ERROR: …" + "Command was: …". */
export function parseRestoreErrors(stderr: string): RestoreError[] {
  const errors: RestoreError[] = [];
  for (const line of stderr.split("\n")) {
    const m = /^pg_restore: error: (.*)$/.exec(line);
    if (m) {
      errors.push({ message: m[1].replace(/^could not execute query: /, "").trim() });
      continue;
    }
    const last = errors.at(-1);
    const cmd = /^Command was: (.*)$/.exec(line);
    if (last && cmd && last.command === undefined) last.command = cmd[1].trim();
    else if (last && last.command === undefined && /^(DETAIL|HINT):/.test(line.trim())) last.message += ` ${line.trim()}`;
  }
  return errors;
}

/** True when these tools' pg_restore sends a setting the target server does not know (see the file comment). */
export function needsPreambleFilter(toolsMajor: number, serverMajor: number): boolean {
  return toolsMajor >= TRANSACTION_TIMEOUT_SINCE && serverMajor < TRANSACTION_TIMEOUT_SINCE;
}

/** PG_RESTORE_TOO_OLD for an archive (by its header) that this pg_restore cannot read. */
export function archiveTooNew(tools: PgTools, archive: ArchiveVersion): PgsealError {
  const need = minRestoreMajor(archive);
  return new PgsealError(
    "PG_RESTORE_TOO_OLD",
    `the backup is a pg_dump archive of format ${archive.major}.${archive.minor}, which pg_restore ${tools.version} in ${tools.binDir} cannot read: ` +
      `it needs PostgreSQL ${need} or newer tools. ${installHint(false, need)}`,
  );
}

/**
 * Removes pg_restore's `SET transaction_timeout = 0;` from the SQL preamble (before the first TOC
 * entry) and passes everything after it through untouched: table data never goes near the filter.
 */
export function preambleFilter(): Transform {
  let head = "";
  let passing = false;
  const release = (t: Transform) => {
    passing = true;
    const lines = head.split("\n");
    const i = lines.indexOf(TRANSACTION_TIMEOUT_SET);
    if (i >= 0) lines.splice(i, 1);
    t.push(Buffer.from(lines.join("\n"), "latin1"));
    head = "";
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (passing) return cb(null, chunk);
      // latin1 maps bytes to characters one to one: a UTF-8 character split across chunks survives.
      head += chunk.toString("latin1");
      // The preamble ends where the first TOC entry's comment begins; 1 MiB bounds the wait for it.
      if (/\n-- (Data for )?Name: /.test(head) || head.length > 1 << 20) release(this);
      cb();
    },
    flush(cb) {
      if (!passing) release(this);
      cb();
    },
  });
}

async function serverMajorOf(tools: PgTools, conn: PgConnection): Promise<number> {
  try {
    return Math.floor(Number(await runPsql(tools.psql, conn, "show server_version_num")) / 10000);
  } catch (e) {
    // Unreachable and wrong-password keep their codes; anything else is this restore failing.
    if (e instanceof PgsealError && e.code !== "PG_DUMP_FAILED") throw e;
    throw new PgsealError("PG_RESTORE_FAILED", `could not ask ${conn.redacted} for its version before restoring: ${e instanceof Error ? e.message : String(e)}`);
  }
}

interface Running {
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  /** Settles once every child process has exited. */
  exited: Promise<void>;
  alive(): boolean;
  kill(): void;
}

export function pgRestoreSink(tools: PgTools, conn: PgConnection, opts: RestoreOptions = {}): PgRestoreSink {
  const serverMajor = serverMajorOf(tools, conn);
  serverMajor.catch(() => {}); // reported by the first write, and by `done`
  const log = new StderrLog([conn.password]);
  let settle!: { resolve: (r: { warnings: string[]; errors: RestoreError[] }) => void; reject: (e: unknown) => void };
  const done = new Promise<{ warnings: string[]; errors: RestoreError[] }>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => {}); // observed by the caller (the pipeline runner watches it); this only keeps it from counting as unhandled meanwhile
  let aborted: unknown;
  /** Set when this sink killed a running child: then the stream's error is the story, not the child's exit. */
  let killed = false;
  let running: Promise<Running> | undefined;
  let head = new Uint8Array(0);

  const start = async (first: Uint8Array): Promise<Running> => {
    const archive = readArchiveVersion(first);
    if (archive && minRestoreMajor(archive) > tools.major) throw archiveTooNew(tools, archive);
    const filtered = needsPreambleFilter(tools.major, await serverMajor);
    return filtered && !opts.keepGoing ? throughPsql(tools, conn, opts, log, finish) : direct(tools, conn, opts, log, filtered, finish);
  };
  const finish = (outcome: { ok: true; errors: RestoreError[] } | { ok: false; error: PgsealError }) => {
    const warnings = log.text.split("\n").filter((l) => l.trim() !== "");
    // Killed because the stream failed (pg_restore then says "terminated by user"): the stream's
    // error is the story. A child that ended on its own first (bad archive, disk full, auth) keeps
    // its own exit status even if an abort (a broken pipe it caused) came after.
    if (killed) settle.reject(aborted);
    else if (!outcome.ok) settle.reject(outcome.error);
    else if (aborted !== undefined) settle.reject(aborted);
    else settle.resolve({ warnings, errors: outcome.errors });
  };
  const begin = (chunk: Uint8Array): Promise<Running> => {
    running = start(chunk);
    running.catch((e: unknown) => settle.reject(e));
    return running;
  };

  // When pg_restore or psql quit first, a write fails (EPIPE) or, once Node destroyed the pipe, never
  // settles: either way the children's own reason, from `done`, is the one to report.
  const forward = (r: Running, chunk: Uint8Array | "end"): Promise<void> => {
    const op = chunk === "end" ? r.stdin.close() : r.stdin.write(chunk);
    const failed = done.then(
      () => op,
      (failure: unknown) => Promise.reject(failure),
    );
    return Promise.race([op.catch(() => failed), failed]);
  };
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (!running) {
        // The archive's version is in its first bytes: gather them before choosing how to restore.
        const joined = new Uint8Array(head.length + chunk.length);
        joined.set(head);
        joined.set(chunk, head.length);
        if (joined.length < HEADER_BYTES) {
          head = joined;
          return;
        }
        head = new Uint8Array(0);
        return forward(await begin(joined), joined);
      }
      return forward(await running, chunk);
    },
    async close() {
      if (running) return forward(await running, "end");
      // A stream shorter than a header: pg_restore says what is wrong with it.
      const r = await begin(head);
      if (head.length > 0) await forward(r, head);
      return forward(r, "end");
    },
    async abort(reason) {
      await stop(reason);
      // A start that failed was reported through `done` already (begin); there is no child to close then.
      const r = await running?.catch(() => undefined);
      // stdin is closed only once the children are gone: closing it first would hand pg_restore an
      // end of input, and an archive whose last bytes already arrived would then be committed.
      await r?.stdin.abort(reason).catch(() => undefined); // the children are gone; their pipe's state no longer matters
    },
  });
  const stop = async (reason: unknown): Promise<void> => {
    aborted ??= reason ?? new PgsealError("CANCELLED", "the restore was stopped");
    if (!running) return settle.reject(aborted);
    // A start that failed was reported through `done` already (begin): nothing is running to stop.
    const r = await running.catch(() => undefined);
    if (!r) return;
    // A broken pipe means a child is already on its way out: its own exit status beats EPIPE.
    if (isConsequenceError(reason)) await Promise.race([r.exited, new Promise((resolve) => setTimeout(resolve, CONSEQUENCE_GRACE_MS))]);
    if (r.alive()) {
      killed = true;
      r.kill();
    }
    await r.exited;
  };
  return { writable, done, stop: (reason) => void stop(reason) };
}

type Finish = (outcome: { ok: true; errors: RestoreError[] } | { ok: false; error: PgsealError }) => void;

function restoreFlags(opts: RestoreOptions): string[] {
  const args: string[] = [];
  if (opts.clean) args.push("--clean", "--if-exists");
  if (opts.noOwner) args.push("--no-owner");
  if (opts.noAcl) args.push("--no-acl");
  return args;
}

function exitOf(child: ChildProcess): Promise<void> {
  return isAlive(child) ? new Promise((resolve) => child.once("exit", () => resolve())) : Promise.resolve();
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function stdinOf(child: ChildProcess): WritableStreamDefaultWriter<Uint8Array> {
  child.stdin!.on("error", () => {}); // EPIPE when the child dies first: reported by `done`
  return (Writable.toWeb(child.stdin!) as WritableStream<Uint8Array>).getWriter();
}

/** pg_restore straight into the server; `ignoreTimeoutSet`: a keep-going restore's one expected error on an older server. */
function direct(tools: PgTools, conn: PgConnection, opts: RestoreOptions, log: StderrLog, ignoreTimeoutSet: boolean, finish: Finish): Running {
  // --single-transaction: if the stream fails (corrupt artifact, lost bucket), killing pg_restore
  // rolls everything back instead of leaving a half-restored database.
  const mode = opts.keepGoing ? [] : ["--single-transaction", "--exit-on-error"];
  const child = spawn(tools.pg_restore, [...mode, "--no-password", "--dbname", conn.urlWithoutPassword, ...restoreFlags(opts)], { env: pgEnv(conn), stdio: ["pipe", "ignore", "pipe"] });
  child.stderr.on("data", (d) => log.push(d));
  child.on("error", (e) => finish({ ok: false, error: new PgsealError("PG_TOOLS_MISSING", `could not run ${tools.pg_restore}: ${e.message}`) }));
  child.on("close", (code, signal) => {
    const all = parseRestoreErrors(log.text);
    // The server ignored an unknown setting and the session went on: harmless, so not reported.
    const errors = ignoreTimeoutSet ? all.filter((e) => e.command !== TRANSACTION_TIMEOUT_SET) : all;
    if (code === 0) finish({ ok: true, errors });
    // Exit 1 after "errors ignored on restore: N" means it ran to the end: the caller judges the errors.
    else if (opts.keepGoing && code === 1 && all.length > 0 && /errors ignored on restore/.test(log.text)) finish({ ok: true, errors });
    else finish({ ok: false, error: pgFailure("pg_restore", "PG_RESTORE_FAILED", conn.redacted, log, signal ? `killed by ${signal}` : `exited with ${code}`) });
  });
  return { stdin: stdinOf(child), exited: exitOf(child), alive: () => isAlive(child), kill: () => child.kill("SIGTERM") };
}

/** pg_restore → SQL → preamble filter → psql, one transaction, stopping at the first error (see the file comment). */
function throughPsql(tools: PgTools, conn: PgConnection, opts: RestoreOptions, log: StderrLog, finish: Finish): Running {
  const restore = spawn(tools.pg_restore, ["--single-transaction", "--file", "-", ...restoreFlags(opts)], { stdio: ["pipe", "pipe", "pipe"] });
  const psql = spawn(tools.psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password", "--dbname", conn.urlWithoutPassword], { env: pgEnv(conn), stdio: ["pipe", "ignore", "pipe"] });
  restore.stderr.on("data", (d) => log.push(d));
  psql.stderr.on("data", (d) => log.push(d));
  // Errors of the pipe itself (EPIPE once psql stopped) are not reported: the exits below say why.
  pipeline(restore.stdout, preambleFilter(), psql.stdin, () => {});
  // psql stopping at an error leaves pg_restore blocked on a full pipe: stop it too (and the other way round).
  psql.on("close", (code) => code !== 0 && restore.kill("SIGTERM"));
  restore.on("close", (code) => code !== 0 && psql.kill("SIGTERM"));
  const exits = [restore, psql].map(
    (child) =>
      new Promise<string | undefined>((resolve) => {
        child.on("error", (e) => resolve(`could not run ${child.spawnfile}: ${e.message}`));
        child.on("close", (code, signal) => resolve(code === 0 ? undefined : signal ? `killed by ${signal}` : `exited with ${code}`));
      }),
  );
  void Promise.all(exits).then(([restoreExit, psqlExit]) => {
    if (!restoreExit && !psqlExit) return finish({ ok: true, errors: [] });
    // psql stopping first makes pg_restore fail on a closed pipe: psql's reason is the real one.
    const [tool, exit] = psqlExit ? ["psql", psqlExit] : ["pg_restore", restoreExit!];
    finish({ ok: false, error: pgFailure(tool, "PG_RESTORE_FAILED", conn.redacted, log, exit) });
  });
  const kill = () => {
    restore.kill("SIGTERM");
    psql.kill("SIGTERM");
  };
  return { stdin: stdinOf(restore), exited: Promise.all([exitOf(restore), exitOf(psql)]).then(() => undefined), alive: () => isAlive(restore) || isAlive(psql), kill };
}
