// Pipeline source: `pg_dump -Fc -Z0 --verbose` as a byte stream that only closes if pg_dump succeeded.
import { spawn } from "node:child_process";
import { PgsealError } from "../../../src/shared/errors.ts";
import type { PgConnection } from "../../../src/shared/pg-url.ts";
import type { ChunkPool } from "../../../src/shared/pipeline/chunk-pool.ts";
import { pgEnv, pgFailure, StderrLog } from "../pg-process.ts";
import { coalescedSource, openFifo } from "./coalesce.ts";
import type { PgTools } from "../pg-tools.ts";

/** Ten minutes: longer than any routine lock, far shorter than "forever" (docs/JOBS.md). */
export const DEFAULT_LOCK_WAIT_TIMEOUT_MS = 600_000;
const TABLE_LINE_RE = /^pg_dump: dumping contents of table "(.+)"$/;

export interface PgDumpSource {
  readable: ReadableStream<Uint8Array>;
  /** Stops pg_dump; the readable then errors with `reason`. */
  kill(reason: PgsealError): void;
}

export function pgDumpSource(opts: {
  tools: PgTools;
  conn: PgConnection;
  onTable?: (table: string) => void;
  /** How long pg_dump waits for each table's shared lock before it gives up (PG_LOCK_TIMEOUT). */
  lockWaitTimeoutMs?: number;
  /** Where the source's chunks come from (and go back to): see ChunkPool. */
  pool?: ChunkPool;
}): PgDumpSource {
  const { tools, conn } = opts;
  const lockWait = opts.lockWaitTimeoutMs ?? DEFAULT_LOCK_WAIT_TIMEOUT_MS;
  // -Z0: the pipeline compresses once, faster and better than pg_dump's internal gzip.
  // --lock-wait-timeout: a table held ACCESS EXCLUSIVE by another session would otherwise keep the job waiting forever.
  const args = ["--format=custom", "--compress=0", "--verbose", "--no-password", `--lock-wait-timeout=${lockWait}`, "--dbname", conn.urlWithoutPassword];
  const fifo = openFifo();
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(tools.pg_dump, args, { env: pgEnv(conn), stdio: ["ignore", fifo ? fifo.writeFd : "pipe", "pipe"] });
  } catch (e) {
    fifo?.abandon();
    throw e;
  }
  fifo?.closeWriter(); // pg_dump holds its own copy: its exit is then the reader's end of input
  const log = new StderrLog([conn.password], (line) => {
    const m = TABLE_LINE_RE.exec(line);
    if (m) opts.onTable?.(m[1]);
  });
  child.stderr!.on("data", (d) => log.push(d));

  let killedWith: PgsealError | undefined;
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", (e) => reject(new PgsealError("PG_TOOLS_MISSING", `could not run ${tools.pg_dump}: ${e.message}`)));
    child.on("close", (code, signal) => {
      if (killedWith) reject(killedWith);
      else if (code === 0) resolve();
      else reject(pgFailure("pg_dump", "PG_DUMP_FAILED", conn.redacted, log, signal ? `killed by ${signal}` : `exited with ${code}`));
    });
  });
  exited.catch(() => {}); // observed through the stream below

  // A closed stdout is not success: the stream ends only once pg_dump exited 0, so an upload
  // downstream can never complete on a dump that failed halfway.
  const readable = fifo ? fifo.readable(exited, undefined, opts.pool) : coalescedSource(child.stdout!, exited, undefined, opts.pool);

  return {
    readable,
    kill(reason) {
      killedWith ??= reason;
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    },
  };
}
