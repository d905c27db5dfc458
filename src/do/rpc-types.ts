// What DatabaseBackups' RPC methods return, and the JSON shapes of jobs the admin API shows.
import type { ErrorCode } from "../shared/errors.ts";
import type { JobState, JobTrigger } from "../shared/contract/job-states.ts";
import { drillSummary, type DrillRecord } from "../shared/catalog/drill-record.ts";
import type { DrillSummary, Manifest } from "../shared/catalog/manifest.ts";
import type { JobError, JobEvent, JobRecord } from "./job-store.ts";
import type { StreamerProgress } from "../shared/contract/streamer-job.ts";
import type { CopyOutcome } from "../shared/pipeline/fanout.ts";

/*
 * Every type here is concrete and JSON-shaped on purpose: Workers RPC typing turns `unknown`
 * (e.g. Record<string, unknown>) into `never`, which would erase a method's result type.
 */

/**
 * RPC answers carry errors as values: an Error thrown across RPC arrives without its `code`, and
 * the API must never branch on message text.
 */
export type RpcResult<T> = { ok: true; value: T } | { ok: false; error: RpcError };
export interface RpcError {
  code: ErrorCode;
  message: string;
  activeJobId?: string;
}

export interface ContainerEvent {
  kind: "start" | "stop" | "error";
  detail?: string;
  /** The streamer job the container instance had accepted last, when known: news of it is not news of another attempt. */
  jobId?: string;
}

export interface JobSummary {
  id: string;
  db: string;
  trigger: JobTrigger;
  state: JobState;
  attempt: number;
  maxAttempts: number;
  createdAt: string;
  updatedAt: string;
  progress: StreamerProgress | null;
  artifactKey: string | null;
  manifestKey: string | null;
  /** The drill's verdict and timings (no table names); null until the job drilled. */
  drill: DrillSummary | null;
  /** Each destination's copy (null before the upload ended): a failed copy shows here even when the job sealed. */
  copies: CopyOutcome[] | null;
  error: JobError | null;
}

export interface JobView extends JobSummary {
  manifest: Manifest | null;
  /** Everything the drill recorded: per-table expected/actual, sequences, objects, pg_restore's output. */
  drillRecord: DrillRecord | null;
  events: { at: string; from: JobState | null; to: JobState; detail: string | null }[];
}

export interface JobPage {
  jobs: JobSummary[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextBefore: string | null;
}

export interface DatabaseStatus {
  db: string;
  configured: boolean;
  schedule: string | null;
  enabled: boolean;
  destination: string | null;
  nextRunAt: string | null;
  activeJob: JobSummary | null;
  /** The newest stored backup, sealed or not. */
  lastBackup: { jobId: string; state: JobState; finishedAt: string; ageSeconds: number; artifactKey: string | null } | null;
  /** The newest sealed backup: the last one proven to restore. */
  lastSealed: { jobId: string; finishedAt: string; ageSeconds: number; artifactKey: string | null; drill: DrillSummary | null } | null;
  lastJob: JobSummary | null;
  lastPollOkAt: string | null;
  /** The last retention run after a sealed backup: what it deleted and what went wrong. */
  lastPrune: { at: string; deleted: string[]; abortedUploads: number; errors: string[] } | null;
  /** Multipart uploads the last finished job could not abort: open in the bucket until the next run or prune aborts them. */
  openUploads: { destination: string; key: string; uploadId: string }[];
}

export interface ArmReport {
  db: string;
  /** armed: there was no alarm; rearmed: it was later than needed or the schedule changed; ok: left alone; idle: nothing to wait for. */
  action: "armed" | "rearmed" | "ok" | "idle";
  alarmAt: string | null;
  nextRunAt: string | null;
  activeJobId: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function jobSummary(job: JobRecord, maxAttempts: number): JobSummary {
  return {
    id: job.id,
    db: job.db,
    trigger: job.trigger,
    state: job.state,
    attempt: job.attempt,
    maxAttempts,
    createdAt: iso(job.createdAt),
    updatedAt: iso(job.updatedAt),
    progress: job.progress,
    artifactKey: job.result?.artifactKey ?? null,
    manifestKey: job.result?.manifestKey ?? null,
    drill: drillSummary(job.result?.drill),
    copies: job.result?.copies ?? null,
    error: job.error,
  };
}

export function jobView(job: JobRecord, events: JobEvent[], maxAttempts: number): JobView {
  return {
    ...jobSummary(job, maxAttempts),
    manifest: job.result?.manifest ?? null,
    drillRecord: job.result?.drill ?? null,
    events: events.map((e) => ({ at: iso(e.at), from: e.from, to: e.to, detail: e.detail })),
  };
}
