// The job life cycle (docs/JOBS.md, docs/ARCHITECTURE.md): every state, and the one table of legal transitions.
import { PgsealError } from "../errors.ts";
import { statusOfVerdict, type DrillVerdict } from "./verdict.ts";

export const JOB_STATES = [
  "queued",
  "starting",
  "dumping",
  "uploading",
  "drilling",
  // Ends. "uploaded": stored and manifested, not drilled (the database's drill mode is "off").
  "uploaded",
  "sealed",
  "failed",
  "drill-failed",
  "drill-skipped",
  "cancelled",
] as const;

export type JobState = (typeof JOB_STATES)[number];
/** The states of a job that has not ended, in order: the dashboard, the metrics and the watchdog use this one list. */
export const ACTIVE_JOB_STATES = ["queued", "starting", "dumping", "uploading", "drilling"] as const satisfies readonly JobState[];
export type ActiveJobState = (typeof ACTIVE_JOB_STATES)[number];

export function isActiveJobState(s: string): s is ActiveJobState {
  return (ACTIVE_JOB_STATES as readonly string[]).includes(s);
}

/** The job's end for a drill verdict: the same word the manifest's status uses (src/shared/contract/verdict.ts). */
export function endStateFor(drill: { verdict: DrillVerdict } | undefined): JobState {
  return statusOfVerdict(drill?.verdict);
}
export type JobTrigger = "manual" | "schedule";

/**
 * Legal moves. Back to `queued` is a retry (a new attempt of the same job) or a wait for a busy
 * streamer; every active state can fail or be cancelled. Ends have no way out.
 */
export const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ["starting", "failed", "cancelled"],
  starting: ["dumping", "queued", "failed", "cancelled"],
  dumping: ["uploading", "queued", "failed", "cancelled"],
  uploading: ["uploaded", "drilling", "drill-skipped", "queued", "failed", "cancelled"],
  // A lost container mid-drill retries the whole backup (or fails): the stored artifact stays `uploaded`, unsealed.
  drilling: ["sealed", "drill-failed", "drill-skipped", "queued", "failed", "cancelled"],
  uploaded: [],
  sealed: [],
  failed: [],
  "drill-failed": [],
  "drill-skipped": [],
  cancelled: [],
};

export function isJobState(s: unknown): s is JobState {
  return typeof s === "string" && (JOB_STATES as readonly string[]).includes(s);
}

export function isTerminal(s: JobState): boolean {
  return TRANSITIONS[s].length === 0;
}

export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(from: JobState, to: JobState): void {
  if (!canTransition(from, to)) throw new PgsealError("INTERNAL", `illegal job state transition ${from} → ${to}`);
}

/** The forward pipeline the streamer's phases map onto. */
const PIPELINE: readonly JobState[] = ["queued", "starting", "dumping", "uploading"];

/**
 * States to pass through, in order, to get from `from` forward to `to` (`to` last). A phase the
 * streamer went through between two polls is still recorded, so every job's history reads the same.
 * Empty when `to` is not ahead of `from`.
 */
export function forwardPath(from: JobState, to: JobState): JobState[] {
  const i = PIPELINE.indexOf(from);
  const j = PIPELINE.indexOf(to);
  if (i < 0) return [];
  if (j >= 0) return j > i ? PIPELINE.slice(i + 1, j + 1) : [];
  // An end reached from inside the pipeline: walk to `uploading` first when the end needs it.
  if (to === "uploaded" || to === "drilling" || to === "drill-skipped") return [...PIPELINE.slice(i + 1), to];
  return [to];
}
