// Pipeline sink: a custom-format dump streamed into `pg_restore` on stdin, in one transaction.
import { spawn } from "node:child_process";
import { PgsealError } from "../../../src/shared/errors.ts";
import { isConsequenceError } from "../../../src/shared/pipeline.ts";
import type { PgConnection } from "../../../src/shared/pg-url.ts";
import { nodeWritable } from "../node-writable.ts";
import { pgEnv, pgFailure, StderrLog } from "../pg-process.ts";
import type { PgTools } from "../pg-tools.ts";

/** How long a broken pipe waits for pg_restore's own exit status before pg_restore is killed. */
const CONSEQUENCE_GRACE_MS = 2000;

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
  /** Kills pg_restore now (its transaction rolls back), even while a write is parked on its full pipe. */
  stop(reason: unknown): void;
}

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

export function pgRestoreSink(tools: PgTools, conn: PgConnection, opts: RestoreOptions = {}): PgRestoreSink {
  // --single-transaction: if the stream fails (corrupt artifact, lost bucket), killing pg_restore
  // rolls everything back instead of leaving a half-restored database.
  const args = opts.keepGoing ? ["--no-password", "--dbname", conn.urlWithoutPassword] : ["--single-transaction", "--exit-on-error", "--no-password", "--dbname", conn.urlWithoutPassword];
  if (opts.clean) args.push("--clean", "--if-exists");
  if (opts.noOwner) args.push("--no-owner");
  if (opts.noAcl) args.push("--no-acl");
  const child = spawn(tools.pg_restore, args, { env: pgEnv(conn), stdio: ["pipe", "ignore", "pipe"] });
  const log = new StderrLog([conn.password]);
  child.stderr.on("data", (d) => log.push(d));
  // EPIPE when pg_restore exits first: the write that meets it fails (a consequence, ranked below
  // the exit status by the pipeline runner) and `done` reports why pg_restore exited.
  child.stdin.on("error", () => {});

  let aborted: unknown;
  let killed = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  const done = new Promise<{ warnings: string[]; errors: RestoreError[] }>((resolve, reject) => {
    child.on("error", (e) => reject(new PgsealError("PG_TOOLS_MISSING", `could not run ${tools.pg_restore}: ${e.message}`)));
    void exited.then(({ code, signal }) => {
      const lines = () => log.text.split("\n").filter((l) => l.trim() !== "");
      const errors = parseRestoreErrors(log.text);
      // Killed by us because the stream failed (pg_restore then says "terminated by user" and exits 1):
      // the stream's error is the story. One that ended on its own before the abort came (bad archive
      // version, disk full, auth) was not killed and keeps its own exit status.
      if (killed) reject(aborted);
      else if (code === 0 && aborted === undefined) resolve({ warnings: lines(), errors });
      // Exit 1 after "errors ignored on restore: N" means it ran to the end: the caller judges the errors.
      else if (aborted === undefined && opts.keepGoing && code === 1 && errors.length > 0 && /errors ignored on restore/.test(log.text)) resolve({ warnings: lines(), errors });
      else if (code === 0) reject(aborted);
      else reject(pgFailure("pg_restore", "PG_RESTORE_FAILED", conn.redacted, log, signal ? `killed by ${signal}` : `exited with ${code}`));
    });
  });
  done.catch(() => {}); // observed by the caller (runPipeline watches it); this only keeps Node from calling it unhandled meanwhile

  const stop = async (reason: unknown) => {
    aborted ??= reason ?? new PgsealError("CANCELLED", "the restore was stopped");
    // A broken pipe means pg_restore is already on its way out: give its own exit status the
    // chance to be the report (it beats EPIPE) before making sure it is gone.
    if (isConsequenceError(reason)) await Promise.race([exited, new Promise((r) => setTimeout(r, CONSEQUENCE_GRACE_MS))]);
    if (child.exitCode === null && child.signalCode === null) {
      killed = true;
      child.kill("SIGTERM");
    }
    await exited;
  };
  // A write into a pg_restore that has exited fails as a broken pipe (a consequence, ranked below
  // `done`, which says why it exited). 'exit', not 'close': 'close' waits for stdio, stdin included.
  const stdin = nodeWritable(child.stdin, { gone: new Promise((resolve) => child.once("exit", resolve)), closedError: () => Object.assign(new Error("write EPIPE: pg_restore has exited"), { code: "EPIPE" }), endOnClose: true });
  const writer = stdin.getWriter();
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => writer.write(chunk),
    close: () => writer.close(),
    async abort(reason) {
      // stdin stays open until pg_restore is gone: closing it first would hand it an end of input,
      // and an archive whose last bytes already arrived would then be committed.
      await stop(reason);
      await writer.abort(reason).catch(() => undefined); // the process is gone; its pipe's state no longer matters
    },
  });
  return { writable, done, stop: (reason) => void stop(reason) };
}
