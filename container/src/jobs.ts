// The streamer's job registry: at most one running job, the last finished ones kept for late polls.
import { PgsealError } from "../../src/shared/errors.ts";
import type { StreamerCancelAnswer, StreamerJobError, StreamerJobResult, StreamerJobStatus } from "../../src/shared/contract/streamer-job.ts";
import type { BackupProgress } from "./backup.ts";

/** Enough for a poller that lost a few answers in a row; a restarted container forgets them all anyway. */
export const KEEP_FINISHED_JOBS = 20;
const MAX_INTERNAL_MESSAGE_CHARS = 300;

/** The registry speaks the wire contract itself: a status is what GET /jobs/:id answers, field for field. */
export type JobStatus = StreamerJobStatus;
export type JobResult = StreamerJobResult;

/** What a job runs: it must stop soon after `signal` aborts, and report progress as it goes. */
export type JobWork = (signal: AbortSignal, report: (p: BackupProgress) => void) => Promise<JobResult>;

/** Lifecycle news for the log (the starter logs the start itself); the registry never writes anything. */
export interface JobListener {
  phase?(job: Readonly<JobStatus>, db: string): void;
  end?(job: Readonly<JobStatus>, db: string): void;
}

export type StartOutcome = { kind: "started"; status: JobStatus } | { kind: "known"; status: JobStatus } | { kind: "busy"; activeJobId: string };
export type CancelOutcome = StreamerCancelAnswer;

interface Job {
  status: JobStatus;
  db: string;
  abort: AbortController;
  /** Settles (never rejects) once the job has ended and its status is final. */
  done: Promise<void>;
  /** Removes every occurrence of this job's secrets from a text. */
  scrub: (text: string) => string;
}

/**
 * Turns whatever a job threw into the status error. A PgsealError keeps its code; anything else
 * is a bug, reported as INTERNAL with a scrubbed, shortened message.
 */
export function toJobError(e: unknown, scrub: (text: string) => string): StreamerJobError {
  if (e instanceof PgsealError) return { code: e.code, message: scrub(e.message), retryable: e.retryable };
  const detail = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { code: "INTERNAL", message: scrub(`unexpected error in the streamer: ${detail}`).slice(0, MAX_INTERNAL_MESSAGE_CHARS), retryable: false };
}

export class JobRegistry {
  #active: Job | undefined;
  /** Statuses only (no secrets kept past the end); insertion order is end order, oldest first. */
  readonly #finished = new Map<string, JobStatus>();
  readonly #keep: number;
  readonly #listener: JobListener;

  constructor(opts: { keepFinished?: number; listener?: JobListener } = {}) {
    this.#keep = opts.keepFinished ?? KEEP_FINISHED_JOBS;
    this.#listener = opts.listener ?? {};
  }

  get activeJobId(): string | undefined {
    return this.#active?.status.jobId;
  }

  status(jobId: string): JobStatus | undefined {
    const status = this.#active?.status.jobId === jobId ? this.#active.status : this.#finished.get(jobId);
    return status && snapshot(status);
  }

  /**
   * Starts `work` unless a job runs. A jobId the registry already knows (running or kept) is not
   * started again: the caller retried after losing our answer and gets that job's status.
   */
  start(jobId: string, db: string, work: JobWork, scrub: (text: string) => string = (t) => t): StartOutcome {
    const known = this.status(jobId);
    if (known) return { kind: "known", status: known };
    if (this.#active) return { kind: "busy", activeJobId: this.#active.status.jobId };
    const status: JobStatus = {
      jobId,
      state: "running",
      phase: "preflight",
      progress: { bytesDumped: 0, bytesCompressed: 0, bytesEncrypted: 0, bytesUploaded: 0, partsUploaded: 0, elapsedMs: 0 },
      startedAt: new Date().toISOString(),
    };
    const abort = new AbortController();
    const job: Job = { status, db, abort, scrub, done: Promise.resolve() };
    this.#active = job;
    job.done = this.#run(job, work);
    return { kind: "started", status: snapshot(status) };
  }

  async #run(job: Job, work: JobWork): Promise<void> {
    const { status } = job;
    const report = (p: BackupProgress) => {
      if (status.endedAt !== undefined) return; // a straggling callback must not rewrite a final status
      const { phase, ...progress } = p;
      status.progress = progress;
      if (phase !== status.phase) {
        status.phase = phase;
        this.#listener.phase?.(snapshot(status), job.db);
      }
    };
    try {
      // A job that throws synchronously must still end through the same path.
      const result = await Promise.resolve().then(() => work(job.abort.signal, report));
      status.result = result;
      status.state = "succeeded";
      status.phase = "done";
    } catch (e) {
      status.error = toJobError(e, job.scrub);
      // After a cancel every failure is the cancel's doing: the job ends cancelled, with what stopped it.
      status.state = job.abort.signal.aborted ? "cancelled" : "failed";
    }
    status.endedAt = new Date().toISOString();
    this.#active = undefined;
    this.#finished.set(status.jobId, status);
    while (this.#finished.size > this.#keep) this.#finished.delete(this.#finished.keys().next().value!);
    this.#listener.end?.(snapshot(status), job.db);
  }

  /** Asks the running job to stop; it ends `cancelled` once its work has unwound (upload aborted). */
  cancel(jobId: string): CancelOutcome {
    if (this.#active?.status.jobId === jobId) {
      this.#active.abort.abort(new PgsealError("CANCELLED", `job ${jobId} was cancelled`));
      return "cancelling";
    }
    return this.#finished.has(jobId) ? "finished" : "unknown";
  }

  /** Cancels whatever runs and resolves once it has ended (shutdown). */
  async cancelActive(): Promise<void> {
    const job = this.#active;
    if (!job) return;
    this.cancel(job.status.jobId);
    await job.done;
  }

  /** Resolves once no job runs (tests). */
  async idle(): Promise<void> {
    while (this.#active) await this.#active.done;
  }
}

/** A copy callers may keep or serialise without seeing later changes. */
function snapshot(s: JobStatus): JobStatus {
  return { ...s, progress: { ...s.progress }, ...(s.error ? { error: { ...s.error } } : {}) };
}
