// The DatabaseBackups side of the streamer HTTP contract (POST/GET/DELETE /jobs), through the PgDumpContainer stub.
import type { StreamerJobRequest, StreamerJobStatus } from "../shared/contract/streamer-job.ts";
import { STREAMER_PHASES } from "../shared/contract/streamer-job.ts";
import type { CopyOutcome } from "../shared/pipeline/fanout.ts";
import { isErrorCode, type ErrorCode } from "../shared/errors.ts";
export type { CopyOutcome, StreamerJobRequest, StreamerJobStatus };
export type { StreamerJobResult, StreamerProgress } from "../shared/contract/streamer-job.ts";

// Every call ends in a typed outcome, never a throw: an unreachable streamer is an answer the job logic acts on.
export type PostOutcome =
  | { kind: "accepted" }
  | { kind: "status"; status: StreamerJobStatus }
  | { kind: "busy"; activeJobId: string | null }
  | { kind: "rejected"; code: ErrorCode; message: string }
  | { kind: "unreachable"; reason: string };

export type PollOutcome = { kind: "status"; status: StreamerJobStatus } | { kind: "not-found" } | { kind: "unreachable"; reason: string };

export type CancelOutcome = { kind: "cancelling" } | { kind: "finished" } | { kind: "not-found" } | { kind: "unreachable"; reason: string };

/** What DatabaseBackups needs of the PgDumpContainer stub. */
export interface ContainerFetcher {
  fetch(input: Request): Promise<Response>;
}

/** The PgDumpContainer forwards every path to the streamer; the host part is ignored. */
const BASE_URL = "http://container";
export const POST_TIMEOUT_MS = 120_000; // includes a cold container start
export const POLL_TIMEOUT_MS = 10_000;
const MAX_REASON_CHARS = 300;

const STATES: readonly string[] = ["running", "succeeded", "failed", "cancelled"];
const PHASES: readonly string[] = STREAMER_PHASES;

function isStatus(v: unknown): v is StreamerJobStatus {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return typeof s.jobId === "string" && STATES.includes(String(s.state)) && PHASES.includes(String(s.phase)) && typeof s.progress === "object" && s.progress !== null;
}

function reasonOf(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).slice(0, MAX_REASON_CHARS);
}

async function call(container: ContainerFetcher, path: string, init: RequestInit, timeoutMs: number): Promise<{ res: Response; body: unknown } | { unreachable: string }> {
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  // A promise that loses the race to the timeout may still reject later: nobody must see that as unhandled.
  const settled = <T>(p: Promise<T>): Promise<T> => (p.catch(() => {}), p);
  try {
    const res = await Promise.race([settled(container.fetch(new Request(`${BASE_URL}${path}`, { ...init, signal: abort.signal }))), timeout]);
    const text = await Promise.race([settled(res.text()), timeout]);
    let body: unknown = null;
    try {
      body = text === "" ? null : JSON.parse(text);
    } catch {
      if (res.ok) return { unreachable: `HTTP ${res.status} with a body that is not JSON` };
    }
    return { res, body };
  } catch (e) {
    return { unreachable: reasonOf(e) };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function errorOf(body: unknown): { code: ErrorCode; message: string; activeJobId?: string } {
  const err = (body as { error?: { code?: unknown; message?: unknown; activeJobId?: unknown } } | null)?.error;
  return {
    // Only catalogued codes travel on (docs/ERRORS.md); anything else the streamer said is an internal error.
    code: isErrorCode(err?.code) ? err.code : "INTERNAL",
    message: typeof err?.message === "string" ? err.message.slice(0, MAX_REASON_CHARS) : "",
    ...(typeof err?.activeJobId === "string" ? { activeJobId: err.activeJobId } : {}),
  };
}

export async function postJob(container: ContainerFetcher, job: StreamerJobRequest, timeoutMs = POST_TIMEOUT_MS): Promise<PostOutcome> {
  const r = await call(container, "/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(job) }, timeoutMs);
  if ("unreachable" in r) return { kind: "unreachable", reason: r.unreachable };
  const { res, body } = r;
  if (res.status === 202) return { kind: "accepted" };
  if (res.status === 200 && isStatus(body)) return { kind: "status", status: body };
  if (res.status === 409) return { kind: "busy", activeJobId: errorOf(body).activeJobId ?? null };
  // 429: the container library is rate-limiting starts; like a 5xx, it is no answer yet, and the job is retried.
  if (res.status >= 400 && res.status < 500 && res.status !== 429) {
    const e = errorOf(body);
    return { kind: "rejected", code: e.code, message: e.message || `HTTP ${res.status}` };
  }
  // 5xx: the library answers so while the container is not (yet) listening.
  return { kind: "unreachable", reason: `HTTP ${res.status}${errorOf(body).message ? `: ${errorOf(body).message}` : ""}` };
}

export async function getJobStatus(container: ContainerFetcher, streamerJobId: string, timeoutMs = POLL_TIMEOUT_MS): Promise<PollOutcome> {
  const r = await call(container, `/jobs/${encodeURIComponent(streamerJobId)}`, { method: "GET" }, timeoutMs);
  if ("unreachable" in r) return { kind: "unreachable", reason: r.unreachable };
  // Only the streamer's own 404 means "never heard of it"; anything else in between is no answer.
  if (r.res.status === 404 && errorOf(r.body).code === "JOB_NOT_FOUND") return { kind: "not-found" };
  if (r.res.status === 200 && isStatus(r.body)) return { kind: "status", status: r.body };
  return { kind: "unreachable", reason: `HTTP ${r.res.status} without a job status` };
}

export async function cancelJob(container: ContainerFetcher, streamerJobId: string, timeoutMs = POLL_TIMEOUT_MS): Promise<CancelOutcome> {
  const r = await call(container, `/jobs/${encodeURIComponent(streamerJobId)}`, { method: "DELETE" }, timeoutMs);
  if ("unreachable" in r) return { kind: "unreachable", reason: r.unreachable };
  if (r.res.status === 202) return { kind: "cancelling" };
  if (r.res.status === 409) return { kind: "finished" };
  if (r.res.status === 404 && errorOf(r.body).code === "JOB_NOT_FOUND") return { kind: "not-found" };
  return { kind: "unreachable", reason: `HTTP ${r.res.status}` };
}

/** Polls until the streamer's job has ended (its final status) or `timeoutMs` passed (null). */
export async function awaitStreamerEnd(container: ContainerFetcher, streamerJobId: string, timeoutMs: number, everyMs = 250): Promise<StreamerJobStatus | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const poll = await getJobStatus(container, streamerJobId);
    if (poll.kind === "status" && poll.status.state !== "running") return poll.status;
    if (poll.kind === "not-found" || Date.now() >= deadline) return null;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
