// One alarm step for the active job: take a slot and start it, poll it, retry it, or fail it with CONTAINER_LOST.
import { readJobSecrets, type DatabaseEntry, type PgsealConfig } from "../config.ts";
import { PgsealError } from "../shared/errors.ts";
import { scrub } from "../shared/redact.ts";
import { checkLimits } from "./job-limits.ts";
import { ACTIVE_JOB_STATES, endStateFor, forwardPath, type JobState } from "../shared/contract/job-states.ts";
import type { JobError, JobPatch, JobRecord, JobStore } from "./job-store.ts";
import type { SlotGrant } from "./job-slots.ts";
import { cancelJob, getJobStatus, postJob, type ContainerFetcher, type StreamerJobStatus } from "./streamer-client.ts";

export const POLL_INTERVAL_MS = 3_000;
/**
 * A young job changes phase within seconds (preflight, dumping, uploading, drilling): polled every
 * second during its first minute, GET /backups/:db/:job and the dashboard show each phase and its
 * bytes while it happens instead of "passed between two polls" afterwards. Only answered polls use
 * it: a missed poll still waits POLL_INTERVAL_MS, so MAX_MISSED_POLLS keeps its meaning.
 */
export const EARLY_POLL_INTERVAL_MS = 1_000;
export const EARLY_PHASE_MS = 60_000;
/** Meta key: the job a cancel was sent for that the streamer had not finished stopping when DELETE answered. */
export const META_CANCEL_REQUESTED = "cancel_requested";
/** A job whose streamer missed this many polls in a row, or was silent this long, lost its container. */
export const MAX_MISSED_POLLS = 3;
export const LOST_AFTER_MS = 30_000;
export const MAX_ATTEMPTS = 3;
/** Retry n waits RETRY_BASE_DELAY_MS * 2^(n-1): 30 s, then 60 s. */
export const RETRY_BASE_DELAY_MS = 30_000;
/** How often a job that found every slot taken asks again. */
export const QUEUE_RETRY_MS = 30_000;
/** How long to wait for a streamer that is still busy with an older job. */
export const BUSY_RETRY_MS = 10_000;

export interface Slots {
  acquire(holder: string, jobId: string, max: number): Promise<SlotGrant>;
  release(holder: string): Promise<void>;
}

export interface DriverContext {
  db: string;
  env: object;
  store: JobStore;
  config: PgsealConfig;
  container: ContainerFetcher;
  slots: Slots;
}

/** Active and past the queue: a container holds this job. */
const RUNNING: readonly JobState[] = ACTIVE_JOB_STATES.filter((s) => s !== "queued");

export function isRunning(state: JobState): boolean {
  return RUNNING.includes(state);
}

/** One step for the active job; the caller re-arms the alarm from whatever state results. */
export async function driveJob(ctx: DriverContext, job: JobRecord, now: number): Promise<void> {
  if (job.state === "queued") return startAttempt(ctx, job, now);
  if (isRunning(job.state)) return pollJob(ctx, job, now);
}

export async function releaseSlot(ctx: DriverContext): Promise<void> {
  try {
    await ctx.slots.release(ctx.db);
  } catch (e) {
    // The lease expires on its own (LEASE_MS): a lost release delays others, it never blocks them.
    console.warn(`pgseal: releasing the slot of ${ctx.db} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function startAttempt(ctx: DriverContext, job: JobRecord, now: number): Promise<void> {
  const entry: DatabaseEntry | undefined = ctx.config.databases[job.db];
  if (!entry) return endAttempt(ctx, job, now, { code: "CONFIG_INVALID", message: `database '${job.db}' is not (or no longer) in PGSEAL_CONFIG`, retryable: false });
  let secrets: ReturnType<typeof readJobSecrets>;
  try {
    secrets = readJobSecrets(ctx.env, entry);
  } catch (e) {
    const err = e instanceof PgsealError ? e : new PgsealError("CONFIG_INVALID", String(e));
    return endAttempt(ctx, job, now, { code: err.code, message: err.message, retryable: false });
  }
  let grant: SlotGrant;
  try {
    grant = await ctx.slots.acquire(ctx.db, job.id, ctx.config.maxConcurrentJobs);
  } catch (e) {
    grant = { granted: false, inUse: -1 };
    console.warn(`pgseal: asking JobSlots for ${ctx.db} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!grant.granted) {
    // Stays queued, no error: capacity is a wait, never a lost run.
    ctx.store.update(job, now, { notBefore: now + QUEUE_RETRY_MS });
    return;
  }
  const dest = ctx.config.destinations[entry.destination];
  const streamerJobId = `${job.id}-a${job.attempt}`;
  const starting = ctx.store.transition(job, "starting", now, `attempt ${job.attempt}/${MAX_ATTEMPTS}: slot ${grant.inUse}/${ctx.config.maxConcurrentJobs}, sending the job to the streamer`, {
    streamerJobId,
    missedPolls: 0,
    lastPollOkAt: now,
    notBefore: now + EARLY_POLL_INTERVAL_MS,
  });
  const outcome = await postJob(ctx.container, {
    jobId: streamerJobId,
    kind: "backup",
    db: entry.name,
    databaseUrl: secrets.databaseUrl,
    destination: {
      name: dest.name,
      endpoint: dest.endpoint,
      bucket: dest.bucket,
      region: dest.region,
      accessKeyId: secrets.accessKeyId,
      secretAccessKey: secrets.secretAccessKey,
      ...(dest.pathStyle === undefined ? {} : { pathStyle: dest.pathStyle }),
      ...(dest.objectLock ? { objectLock: dest.objectLock } : {}),
    },
    prefix: dest.prefix,
    ...(secrets.recipient ? { recipient: secrets.recipient } : { keyring: secrets.keyring! }),
    compression: entry.compression,
    lockWaitTimeoutMs: Math.round(entry.lockWaitTimeoutSeconds * 1000),
    drill: entry.drill === "scratch" ? { mode: "scratch", scratchUrl: secrets.drillScratchUrl } : { mode: entry.drill },
    ...(entry.copies.length
      ? {
          copies: entry.copies.map((name) => {
            const d = ctx.config.destinations[name];
            return {
              name,
              endpoint: d.endpoint,
              bucket: d.bucket,
              region: d.region,
              ...secrets.copies[name],
              ...(d.pathStyle === undefined ? {} : { pathStyle: d.pathStyle }),
              ...(d.objectLock ? { objectLock: d.objectLock } : {}),
            };
          }),
        }
      : {}),
  });
  const fresh = ctx.store.get(job.id);
  if (fresh?.state !== "starting" || fresh.attempt !== starting.attempt) {
    // Cancelled (or failed by a container event) while the POST was in flight: do not leave an orphan running.
    if (outcome.kind === "accepted" || outcome.kind === "status") await cancelJob(ctx.container, streamerJobId);
    return;
  }
  const secretValues = Object.values(secrets);
  switch (outcome.kind) {
    case "accepted":
      return;
    case "status":
      return applyStatus(ctx, fresh, outcome.status, now);
    case "busy": {
      // Only an older attempt of this same job is certainly ours to stop; anything else finishes on its own.
      if (outcome.activeJobId?.startsWith(`${job.id}-a`)) await cancelJob(ctx.container, outcome.activeJobId);
      ctx.store.transition(fresh, "queued", now, `the streamer is busy with ${outcome.activeJobId ?? "another job"}; asking again in ${BUSY_RETRY_MS / 1000} s`, {
        notBefore: now + BUSY_RETRY_MS,
        streamerJobId: null,
      });
      return releaseSlot(ctx);
    }
    case "rejected":
      return endAttempt(ctx, fresh, now, { code: outcome.code, message: scrub(`the streamer refused the job: ${outcome.message}`, secretValues), retryable: false });
    case "unreachable":
      return endAttempt(ctx, fresh, now, { code: "CONTAINER_LOST", message: scrub(`the container did not take the job: ${outcome.reason}`, secretValues), retryable: true });
  }
}

async function pollJob(ctx: DriverContext, job: JobRecord, now: number): Promise<void> {
  if (!job.streamerJobId) return endAttempt(ctx, job, now, { code: "INTERNAL", message: "running job without a streamer job id", retryable: false });
  try {
    await ctx.slots.acquire(ctx.db, job.id, ctx.config.maxConcurrentJobs); // renews the lease
  } catch {
    // A missed renewal costs nothing until LEASE_MS: the next poll renews again.
  }
  const outcome = await getJobStatus(ctx.container, job.streamerJobId);
  const fresh = ctx.store.get(job.id);
  if (!fresh || fresh.state !== job.state || fresh.attempt !== job.attempt) return; // moved on while we waited
  if (outcome.kind === "status") {
    const broken = outcome.status.state === "running" ? checkLimits(ctx.store, fresh, outcome.status, ctx.config.databases[ctx.db], now) : null;
    if (!broken) return applyStatus(ctx, fresh, outcome.status, now);
    // Stop the streamer's work first (its cancel cleans up what it wrote), then end the job; a streamer that does not answer is lost anyway.
    const stop = await cancelJob(ctx.container, job.streamerJobId);
    const detail = stop.kind === "cancelling" ? "" : ` (stopping it at the streamer: ${stop.kind === "unreachable" ? stop.reason : stop.kind})`;
    const latest = ctx.store.get(job.id);
    if (!latest || latest.state !== fresh.state || latest.attempt !== fresh.attempt) return;
    return endAttempt(ctx, latest, now, { ...broken, message: broken.message + detail });
  }
  if (outcome.kind === "not-found") {
    return endAttempt(ctx, fresh, now, { code: "CONTAINER_LOST", message: `the streamer does not know job ${job.streamerJobId}: the container was replaced`, retryable: true });
  }
  const missed = fresh.missedPolls + 1;
  const silentMs = now - (fresh.lastPollOkAt ?? fresh.updatedAt);
  if (missed >= MAX_MISSED_POLLS || silentMs >= LOST_AFTER_MS) {
    const message = `no answer from the streamer for ${missed} polls (${Math.round(silentMs / 1000)} s): ${outcome.reason}`;
    return endAttempt(ctx, fresh, now, { code: "CONTAINER_LOST", message, retryable: true });
  }
  ctx.store.update(fresh, now, { missedPolls: missed, notBefore: now + POLL_INTERVAL_MS });
}

function phaseState(status: StreamerJobStatus): JobState {
  if (status.phase === "preflight") return "starting";
  if (status.phase === "dumping") return "dumping";
  if (status.phase === "drilling") return "drilling";
  return "uploading";
}

/** Walks `job` forward to `to`, recording every state passed; the last step carries `patch`. */
function advance(ctx: DriverContext, job: JobRecord, to: JobState, now: number, detail: string, patch: JobPatch): JobRecord {
  const path = forwardPath(job.state, to);
  if (path.length === 0) return ctx.store.update(job, now, patch) ?? job;
  let current = job;
  path.forEach((state, i) => {
    const last = i === path.length - 1;
    current = ctx.store.transition(current, state, now, last ? detail : `${state} (passed between two polls)`, last ? patch : {});
  });
  return current;
}

export async function applyStatus(ctx: DriverContext, job: JobRecord, status: StreamerJobStatus, now: number): Promise<void> {
  const early = (status.progress?.elapsedMs ?? 0) < EARLY_PHASE_MS;
  const polled: JobPatch = { progress: status.progress, missedPolls: 0, lastPollOkAt: now, notBefore: now + (early ? EARLY_POLL_INTERVAL_MS : POLL_INTERVAL_MS) };
  if (status.state === "running") {
    advance(ctx, job, phaseState(status), now, `streamer phase ${status.phase}`, polled);
    return;
  }
  if (status.state === "succeeded") {
    const r = status.result;
    const result = r ? { artifactKey: r.artifactKey, manifestKey: r.manifestKey, manifest: r.manifest, ...(r.drill ? { drill: r.drill } : {}), ...(r.copies ? { copies: r.copies } : {}) } : null;
    const drill = r?.drill;
    if (!drill) {
      // A cancel too late to take the backup back: the job ends as what is stored, and says why.
      const note = r?.cancelNote ? { error: { code: "CANCELLED", message: r.cancelNote, retryable: false } } : {};
      advance(ctx, job, "uploaded", now, r?.cancelNote ?? `uploaded ${result?.artifactKey ?? "(no key reported)"}`, { ...polled, result, ...note });
    } else {
      const end = endStateFor(drill);
      const detail =
        drill.verdict === "pass"
          ? `sealed: restored in ${drill.restoreSeconds} s, ${drill.tables} tables and ${drill.rows} rows match the dump`
          : `${drill.code ?? "DRILL_FAILED"}: ${drill.reason ?? "the drill did not pass"}`;
      // A drill that failed is the job's error too: it shows wherever failures are listed.
      const error = drill.verdict === "pass" ? {} : { error: { code: drill.code ?? "DRILL_FAILED", message: drill.reason ?? "the drill did not pass", retryable: false } };
      advance(ctx, job, "drilling", now, "drilling (passed between two polls)", {});
      const fresh = ctx.store.get(job.id) ?? job;
      ctx.store.transition(fresh, end, now, detail, { ...polled, result, ...error });
    }
    return releaseSlot(ctx);
  }
  if (status.state === "cancelled") {
    ctx.store.transition(job, "cancelled", now, `the streamer reports the job cancelled${status.error ? `: ${status.error.message}` : ""}`, polled);
    return releaseSlot(ctx);
  }
  const error = status.error ?? { code: "INTERNAL", message: "the streamer reported a failure without an error", retryable: false };
  const updated = ctx.store.update(job, now, { progress: status.progress }) ?? job;
  return endAttempt(ctx, updated, now, error);
}

/** Ends the current attempt: back to `queued` for a retry while attempts remain, else `failed`. */
export async function endAttempt(ctx: DriverContext, job: JobRecord, now: number, error: JobError): Promise<void> {
  if (ctx.store.getMeta(META_CANCEL_REQUESTED) === job.id) {
    // A cancel was asked for and the streamer can no longer tell how it ended: no retry, the job is cancelled.
    ctx.store.transition(job, "cancelled", now, `cancelled through the admin API; the streamer's end was not seen (${error.code}: ${error.message})`);
    if (job.state !== "queued") await releaseSlot(ctx);
    return;
  }
  const retry = error.retryable && job.attempt < MAX_ATTEMPTS;
  if (retry && job.state === "queued") {
    ctx.store.update(job, now, { notBefore: now + RETRY_BASE_DELAY_MS });
  } else if (retry) {
    const delayMs = RETRY_BASE_DELAY_MS * 2 ** (job.attempt - 1);
    ctx.store.transition(job, "queued", now, `attempt ${job.attempt}/${MAX_ATTEMPTS} failed with ${error.code}: ${error.message}; retrying in ${delayMs / 1000} s`, {
      attempt: job.attempt + 1,
      notBefore: now + delayMs,
      streamerJobId: null,
      missedPolls: 0,
    });
  } else {
    ctx.store.transition(job, "failed", now, `${error.code}: ${error.message}`, { error });
  }
  if (job.state !== "queued") await releaseSlot(ctx);
}
