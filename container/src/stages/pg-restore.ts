// Pipeline sink: a custom-format dump streamed into `pg_restore` on stdin, in one transaction.
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import { PgsealError } from "../../../src/shared/errors.ts";
import type { PgConnection } from "../../../src/shared/pg-url.ts";
import { pgEnv, pgFailure, StderrLog } from "../pg-process.ts";
import type { PgTools } from "../pg-tools.ts";

export interface RestoreOptions {
  clean?: boolean;
  noOwner?: boolean;
  noAcl?: boolean;
}

export interface PgRestoreSink {
  writable: WritableStream<Uint8Array>;
  /** Resolves with pg_restore's warnings once it exited 0. */
  done: Promise<{ warnings: string[] }>;
}

export function pgRestoreSink(tools: PgTools, conn: PgConnection, opts: RestoreOptions = {}): PgRestoreSink {
  // --single-transaction: if the stream fails (corrupt artifact, lost bucket), killing pg_restore
  // rolls everything back instead of leaving a half-restored database.
  const args = ["--single-transaction", "--exit-on-error", "--no-password", "--dbname", conn.urlWithoutPassword];
  if (opts.clean) args.push("--clean", "--if-exists");
  if (opts.noOwner) args.push("--no-owner");
  if (opts.noAcl) args.push("--no-acl");
  const child = spawn(tools.pg_restore, args, { env: pgEnv(conn), stdio: ["pipe", "ignore", "pipe"] });
  const log = new StderrLog([conn.password]);
  child.stderr.on("data", (d) => log.push(d));
  child.stdin.on("error", () => {}); // EPIPE when pg_restore dies first: reported by `done`

  let aborted: unknown;
  const done = new Promise<{ warnings: string[] }>((resolve, reject) => {
    child.on("error", (e) => reject(new PgsealError("PG_TOOLS_MISSING", `could not run ${tools.pg_restore}: ${e.message}`)));
    child.on("close", (code, signal) => {
      if (aborted) reject(aborted);
      else if (code === 0) resolve({ warnings: log.text.split("\n").filter((l) => l.trim() !== "") });
      else reject(pgFailure("pg_restore", "PG_RESTORE_FAILED", conn.redacted, log, signal ? `killed by ${signal}` : `exited with ${code}`));
    });
  });
  done.catch(() => {});

  const stdin = Writable.toWeb(child.stdin) as WritableStream<Uint8Array>;
  const writer = stdin.getWriter();
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => writer.write(chunk),
    close: () => writer.close(),
    abort(reason) {
      aborted = reason;
      child.kill("SIGTERM");
      return writer.abort(reason).catch(() => {});
    },
  });
  return { writable, done };
}
