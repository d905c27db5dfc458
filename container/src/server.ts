// The streamer: the backup engine behind a small HTTP API inside the container (docs/STREAMER-API.md).
// One job at a time; secrets arrive in the POST body and are never logged or echoed.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { redactUrl, scrub } from "../../src/shared/redact.ts";
import { runBackupJob } from "./backup-job.ts";
import { STREAMER_JOB_ID_RE } from "../../src/shared/contract/streamer-job.ts";
import { describeProblems, parseJobRequest } from "./job-request.ts";
import { JobRegistry, toJobError, type JobStatus } from "./jobs.ts";
import { findPgTools } from "./pg-tools.ts";
import { PGSEAL_VERSION } from "./version.ts";

export const DEFAULT_PORT = 8080;
/** A job request is a few hundred bytes; a keyring with many rotated keys still fits easily. */
export const MAX_BODY_BYTES = 256 * 1024;
/** How long a shutdown waits for the cancelled job to abort its upload before closing anyway. */
export const SHUTDOWN_GRACE_MS = 20_000;

export interface StreamerOptions {
  port?: number;
  host?: string;
  /** Where the JSON log lines go (one per call, without newline); stdout by default. */
  log?: (line: string) => void;
}

export interface Streamer {
  url: string;
  port: number;
  /** Cancels the running job (its upload is aborted), then closes the server. */
  stop(): Promise<void>;
}

type Fields = Record<string, unknown>;

export async function startStreamer(opts: StreamerOptions = {}): Promise<Streamer> {
  const write = opts.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const log = (event: string, fields: Fields = {}) => write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));
  const sizes = (s: JobStatus) => ({
    bytesDumped: s.progress.bytesDumped,
    bytesCompressed: s.progress.bytesCompressed,
    bytesUploaded: s.progress.bytesUploaded,
    partsUploaded: s.progress.partsUploaded,
    elapsedMs: s.progress.elapsedMs,
  });
  const jobs = new JobRegistry({
    listener: {
      phase: (s, db) => log("job.phase", { jobId: s.jobId, db, phase: s.phase, ...(s.progress.sourceBytes === undefined ? {} : { sourceBytes: s.progress.sourceBytes }), ...sizes(s) }),
      end: (s, db) =>
        log("job.end", {
          jobId: s.jobId,
          db,
          state: s.state,
          ...(s.error ? { code: s.error.code, retryable: s.error.retryable, message: s.error.message } : {}),
          ...(s.result ? { manifestKey: s.result.manifestKey, artifactBytes: s.result.manifest.artifact.bytes } : {}),
          ...sizes(s),
        }),
    },
  });

  let stopping: Promise<void> | undefined;

  const routes = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://streamer").pathname;
    const method = req.method ?? "GET";
    if (path === "/health") {
      if (method !== "GET") return notAllowed(res, "GET", path);
      return health(res);
    }
    if (path === "/jobs") {
      if (method !== "POST") return notAllowed(res, "POST", path);
      // Between SIGTERM and exit: a job started now would only be cancelled again.
      if (stopping) return send(res, 503, { error: { code: "STREAMER_STOPPING", message: "the streamer is shutting down; send the job again once it is back" } });
      return postJob(req, res);
    }
    const m = /^\/jobs\/([^/]+)$/.exec(path);
    if (m) {
      let id = "";
      try {
        id = decodeURIComponent(m[1]);
      } catch {
        // an undecodable id names no job
      }
      if (method === "GET") return getJob(res, id);
      if (method === "DELETE") return deleteJob(res, id);
      return notAllowed(res, "GET, DELETE", "/jobs/<id>");
    }
    send(res, 404, { error: { code: "NOT_FOUND", message: `no route ${method} ${path}` } });
  };

  const health = async (res: ServerResponse) => {
    const active = jobs.activeJobId;
    try {
      const tools = await findPgTools();
      send(res, 200, { ok: true, version: PGSEAL_VERSION, ...(active ? { activeJobId: active } : {}), pgDump: tools.version });
    } catch (e) {
      // Alive but useless without pg_dump: say so, so nobody sends it jobs.
      send(res, 503, { ok: false, version: PGSEAL_VERSION, ...(active ? { activeJobId: active } : {}), error: toJobError(e, (t) => t) });
    }
  };

  const postJob = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await readBody(req);
    if (text === undefined) {
      log("job.rejected", { reason: "body too large" });
      return send(res, 413, { error: { code: "BAD_REQUEST", message: `the request body is larger than ${MAX_BODY_BYTES} bytes` } });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      log("job.rejected", { reason: "body is not JSON" });
      return send(res, 400, { error: { code: "BAD_REQUEST", message: "the request body is not valid JSON", fields: [{ field: "body", message: "must be JSON" }] } });
    }
    const parsed = parseJobRequest(body);
    if (!parsed.ok) {
      const jobId = (body as { jobId?: unknown } | null)?.jobId;
      log("job.rejected", { ...(typeof jobId === "string" && STREAMER_JOB_ID_RE.test(jobId) ? { jobId } : {}), fields: parsed.problems.map((p) => p.field) });
      return send(res, 400, { error: { code: "BAD_REQUEST", message: describeProblems(parsed.problems), fields: parsed.problems } });
    }
    const { jobId, spec, secrets, drill } = parsed.request;
    const clean = (t: string) => scrub(t, secrets);
    const outcome = jobs.start(jobId, spec.db, (signal, report) => runBackupJob(spec, drill, { signal, report, onNotice: (m) => log("job.notice", { jobId, db: spec.db, message: clean(m) }) }), clean);
    if (outcome.kind === "busy") {
      log("job.busy", { jobId, db: spec.db, activeJobId: outcome.activeJobId });
      return send(res, 409, { error: { code: "STREAMER_BUSY", message: `the streamer is running job ${outcome.activeJobId}; one job at a time`, activeJobId: outcome.activeJobId } });
    }
    if (outcome.kind === "known") return send(res, 200, outcome.status);
    log("job.start", {
      jobId,
      db: spec.db,
      endpoint: clean(redactUrl(spec.s3.endpoint)),
      bucket: spec.s3.bucket,
      prefix: spec.prefix,
      compression: spec.compression,
      ...(spec.level === undefined ? {} : { level: spec.level }),
      ...(spec.partSize === undefined ? {} : { partSizeBytes: spec.partSize }),
      keyId: spec.recipient ? spec.recipient.id : spec.keyring!.active.id,
      ...(spec.recipient ? { keyCustody: true } : {}),
    });
    send(res, 202, { jobId, statusUrl: `/jobs/${jobId}` });
  };

  const getJob = (res: ServerResponse, id: string) => {
    const status = jobs.status(id);
    if (!status) return notFound(res, id);
    send(res, 200, status);
  };

  const deleteJob = (res: ServerResponse, id: string) => {
    const outcome = jobs.cancel(id);
    if (outcome === "unknown") return notFound(res, id);
    if (outcome === "finished") {
      const state = jobs.status(id)?.state;
      return send(res, 409, { error: { code: "JOB_NOT_ACTIVE", message: `job ${id} already ended ${state}`, state } });
    }
    log("job.cancel", { jobId: id });
    send(res, 202, { jobId: id, state: "cancelling" });
  };

  const server = createServer((req, res) => {
    routes(req, res).catch((e: unknown) => {
      // A bug in a handler: answer without details (they could hold anything), log the kind of error only.
      log("request.error", { method: req.method, error: e instanceof Error ? e.name : typeof e });
      if (!res.headersSent) send(res, 500, { error: { code: "INTERNAL", message: "the streamer failed to handle the request" } });
      else res.destroy();
    });
  });
  const host = opts.host ?? "0.0.0.0";
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(opts.port ?? DEFAULT_PORT, host, () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host;
  log("streamer.listening", { host, port, version: PGSEAL_VERSION });

  const stop = () =>
    (stopping ??= (async () => {
      const active = jobs.activeJobId;
      log("streamer.stopping", active ? { activeJobId: active } : {});
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)));
      await Promise.race([jobs.cancelActive(), grace]);
      clearTimeout(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      log("streamer.stopped");
    })());
  return { url: `http://${shownHost}:${port}`, port, stop };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}

function notFound(res: ServerResponse, id: string): void {
  const shown = STREAMER_JOB_ID_RE.test(id) ? `'${id}'` : "with that id";
  send(res, 404, { error: { code: "JOB_NOT_FOUND", message: `no job ${shown} on this streamer (it keeps the running job and the last finished ones)` } });
}

function notAllowed(res: ServerResponse, allow: string, path: string): void {
  res.setHeader("allow", allow);
  send(res, 405, { error: { code: "BAD_REQUEST", message: `${path} accepts ${allow} only` } });
}

/** The body as text, or undefined when it is over MAX_BODY_BYTES (read to the end anyway, so the answer can be sent). */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString("utf8");
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? DEFAULT_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`PORT must be a port number, not '${process.env.PORT}'`);
  // 0.0.0.0 in the image (the runtime connects from outside); tests and the demo say 127.0.0.1.
  const streamer = await startStreamer({ port, host: process.env.STREAMER_HOST || "0.0.0.0" });
  const shutdown = (signal: NodeJS.Signals) => {
    void streamer.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
    // A second signal means "now": do not wait for the upload abort.
    process.once(signal, () => process.exit(1));
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}

if (import.meta.main) await main();
