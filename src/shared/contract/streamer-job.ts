// The one contract of a backup job between the Worker and the streamer (docs/STREAMER-API.md): request, status, progress, result, errors, ids.
// Both sides import these types (src/do/streamer-client.ts, container/src/jobs.ts, job-request.ts,
// server.ts), so the type checker ties them: a field one side sends and the other does not know is a
// compile error, not a silent drop. Web types only: it runs in the Worker, the streamer and the CLI.
import type { DrillRecord } from "../catalog/drill-record.ts";
import type { CopyOutcome } from "../pipeline/fanout.ts";
import type { Manifest } from "../catalog/manifest.ts";
import type { S3Target } from "../s3/s3.ts";
import type { ErrorCode } from "../errors.ts";

/** The Worker's job ids (`20261122T130501Z-3f9a`, made by src/do/job-store.ts): what the admin API accepts in a path. */
export const JOB_ID_RE = /^\d{8}T\d{6}Z-[0-9a-f]{4}$/;
/** What the streamer accepts: the Worker's ids and any other caller's safe id (tests, the CLI). */
export const STREAMER_JOB_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** A bucket with its credentials, as the job request carries it. */
export type StreamerDestination = S3Target & { objectLock?: { mode: "GOVERNANCE" | "COMPLIANCE"; days: number } };

export const DRILL_MODES = ["off", "local", "scratch"] as const;
export type DrillMode = (typeof DRILL_MODES)[number];

/** POST /jobs: what the Worker sends (secrets travel here and nowhere else). */
export interface StreamerJobRequest {
  jobId: string;
  kind: "backup";
  db: string;
  databaseUrl: string;
  destination: StreamerDestination & { name?: string };
  prefix: string;
  /** Exactly one: the keyring, or the recipient public key (key custody). */
  keyring?: string;
  recipient?: string;
  compression: "zstd" | "gzip";
  level?: number;
  partSizeBytes?: number;
  /** pg_dump --lock-wait-timeout (PG_LOCK_TIMEOUT when a table lock is not granted in time). */
  lockWaitTimeoutMs?: number;
  drill: { mode: DrillMode; scratchUrl?: string };
  /** Further destinations written in the same pass. */
  copies?: (StreamerDestination & { name: string })[];
}

/** Where a streamer job is in its run (the Worker's richer job states are src/shared/contract/job-states.ts). */
export type StreamerRunState = "running" | "succeeded" | "failed" | "cancelled";
export const STREAMER_PHASES = ["preflight", "dumping", "uploading", "drilling", "done"] as const;
export type StreamerPhase = (typeof STREAMER_PHASES)[number];

export interface StreamerProgress {
  bytesDumped: number;
  bytesCompressed: number;
  bytesEncrypted: number;
  bytesUploaded: number;
  partsUploaded: number;
  table?: string;
  sourceBytes?: number;
  elapsedMs: number;
  /** While drilling: the artifact read back so far. */
  drill?: { step: "preparing" | "restoring" | "counting"; bytesRead: number; bytesTotal: number };
  /** Multipart uploads the job could not abort after a failure: still open until the next run aborts them. */
  openUploads?: { destination: string; key: string; uploadId: string }[];
}

export interface StreamerJobResult {
  manifestKey: string;
  artifactKey: string;
  manifest: Manifest;
  /** Present when the job drilled: its verdict is also the manifest's status. */
  drill?: DrillRecord;
  /** Every destination's copy, the one drilled first. */
  copies?: CopyOutcome[];
  /** A cancel came after the upload and could not take the backup back: why it is still stored. */
  cancelNote?: string;
}

/** Always a catalogued code (docs/ERRORS.md); the message is scrubbed of the request's secrets. */
export interface StreamerJobError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

/** GET /jobs/:id and the 202 of POST /jobs. */
export interface StreamerJobStatus {
  jobId: string;
  state: StreamerRunState;
  phase: StreamerPhase;
  progress: StreamerProgress;
  startedAt: string;
  endedAt?: string;
  result?: StreamerJobResult;
  error?: StreamerJobError;
}

/** DELETE /jobs/:id: whether the job is stopping, had already ended, or is not known. */
export type StreamerCancelAnswer = "cancelling" | "finished" | "unknown";
