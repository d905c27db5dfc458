// The bounds that make every running job end: no progress for stallTimeoutMinutes (JOB_STALLED), or longer than maxRunHours (JOB_TIMEOUT).
import type { DatabaseEntry } from "../config.ts";
import type { JobError, JobRecord, JobStore } from "./job-store.ts";
import type { StreamerJobStatus } from "./streamer-client.ts";

/** Meta key of the active job's progress mark (one job runs per object at a time). */
export const META_PROGRESS_MARK = "progress_mark";

export interface ProgressMark {
  jobId: string;
  /** What the streamer reported, minus the clock: a change here is progress. */
  key: string;
  /** When `key` last changed. */
  movedAt: number;
  /** The first answer of the streamer for this job (any attempt): the run time counts from here. */
  startedAt: number;
}

/** Everything in a status that moves while work is done; elapsedMs moves on its own, so it is left out. */
export function progressKey(status: StreamerJobStatus): string {
  const { elapsedMs: _clock, ...rest } = status.progress;
  return JSON.stringify([status.phase, rest]);
}

/**
 * Records this poll's answer and says whether the job broke a bound. The run-time bound is checked
 * first: a job that overran is reported as such even if it also stopped moving.
 */
export function checkLimits(store: JobStore, job: JobRecord, status: StreamerJobStatus, entry: Pick<DatabaseEntry, "stallTimeoutMinutes" | "maxRunHours"> | undefined, now: number): JobError | null {
  const raw = store.getMeta(META_PROGRESS_MARK);
  let mark: ProgressMark | null = null;
  try {
    mark = raw === null ? null : (JSON.parse(raw) as ProgressMark);
  } catch {
    mark = null; // a mark we cannot read is replaced by a fresh one: the bounds then count from now
  }
  const key = progressKey(status);
  if (!mark || mark.jobId !== job.id) mark = { jobId: job.id, key, movedAt: now, startedAt: now };
  else if (mark.key !== key) mark = { ...mark, key, movedAt: now };
  store.setMeta(META_PROGRESS_MARK, JSON.stringify(mark));
  if (!entry) return null;
  const runMs = now - mark.startedAt;
  if (runMs >= entry.maxRunHours * 3_600_000) {
    return {
      code: "JOB_TIMEOUT",
      retryable: false,
      message: `the job ran ${minutes(runMs)} (${job.state}), longer than maxRunHours (${entry.maxRunHours} h); it was stopped. Raise maxRunHours for this database if its backups really take this long`,
    };
  }
  const stillMs = now - mark.movedAt;
  if (stillMs >= entry.stallTimeoutMinutes * 60_000) {
    return {
      code: "JOB_STALLED",
      retryable: false,
      message: `no progress for ${minutes(stillMs)} while ${job.state} (stallTimeoutMinutes is ${entry.stallTimeoutMinutes}); it was stopped. Look for a blocked pg_dump or an unreachable bucket, or raise stallTimeoutMinutes`,
    };
  }
  return null;
}

function minutes(ms: number): string {
  return ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)} h` : `${Math.round(ms / 60_000)} min`;
}
