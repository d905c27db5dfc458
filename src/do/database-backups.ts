// DatabaseBackups: one SQLite Durable Object per database; its jobs, their history, the schedule, and the one alarm.
import { DurableObject } from "cloudflare:workers";
import { deliver, messagesFor, type Outgoing } from "../alerts.ts";
import { loadConfig, type DatabaseEntry } from "../config.ts";
import type { PruneResult } from "../shared/catalog/prune.ts";
import { checkStale, META_LAST_PRUNE, META_LAST_STALE_ALERT, pruneDatabase, type MaintenanceContext } from "./maintenance.ts";
export { META_LAST_STALE_ALERT };
import { nextFireAt } from "../schedule/fire-time.ts";
import { drillSummary } from "../shared/catalog/drill-record.ts";
import { PgsealError } from "../shared/errors.ts";
import { applyStatus, driveJob, endAttempt, isRunning, MAX_ATTEMPTS, META_CANCEL_REQUESTED, POLL_INTERVAL_MS, releaseSlot, type DriverContext } from "./job-driver.ts";
import { isTerminal, type JobState } from "../shared/contract/job-states.ts";
import { JobStore, type JobRecord } from "./job-store.ts";
import { awaitStreamerEnd, cancelJob } from "./streamer-client.ts";
import { jobSummary, jobView, type ArmReport, type ContainerEvent, type DatabaseStatus, type JobPage, type JobView, type RpcResult } from "./rpc-types.ts";
import { containerStub, slotsStub } from "./stubs.ts";
import { toReportJob } from "../report/from-jobs.ts";
import type { ReportJob } from "../report/report.ts";
import type { DatabaseMetrics } from "../metrics.ts";

/** Keys of the meta table (exported for tests that replay an outage). */
export const META_NEXT_RUN = "next_run_ms";
export const META_SCHEDULE = "schedule";
export const META_LAST_SKIPPED = "last_skipped_run";
const META_LAST_POLL_OK = "last_poll_ok_ms";
const META_LAST_CONTAINER_EVENT = "last_container_event";
/** How long DELETE waits for the streamer to finish stopping (pg_dump and pg_restore stop at once; a drill cluster takes a few seconds). */
const CANCEL_WAIT_MS = 20_000;

function parseMeta<T>(raw: string | null): T | null {
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

function fail<T>(e: unknown): RpcResult<T> {
  if (e instanceof PgsealError) return { ok: false, error: { code: e.code, message: e.message } };
  throw e;
}

/**
 * Addressed with idFromName(db). The single alarm both fires scheduled runs and polls the streamer
 * while a job runs; it is ours because the Container class (which owns its own alarm) is a separate object.
 */
export class DatabaseBackups extends DurableObject<Env> {
  readonly store: JobStore;
  /** Alerts and pings raised by state changes, sent once the step that caused them is stored. */
  #outbox: Outgoing[] = [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new JobStore(ctx.storage);
    this.store.onTransition = (job, from) => this.#noteTransition(job, from);
  }

  /** Set when a job sealed: pruning runs once the step that sealed it is stored. */
  #pruneDue = false;

  #noteTransition(job: JobRecord, _from: JobState): void {
    if (job.state === "sealed") this.#pruneDue = true;
    if (!this.#entry()) return;
    this.#outbox.push(...messagesFor(job, this.db, this.env, loadConfig(this.env).config.alerts.onSuccess));
  }

  /** Sends what the last step raised, then prunes after a seal; never throws (deliver() logs failures). */
  async #flush(now = Date.now()): Promise<void> {
    const batch = this.#outbox.splice(0);
    await Promise.all(batch.map((m) => deliver(m.url, m.body, m.what)));
    if (this.#pruneDue) {
      this.#pruneDue = false;
      await this.prune(now);
    }
  }

  /**
   * Applies the retention policy to this database's backups in the bucket and aborts its stale
   * multipart uploads. Runs after each sealed backup; the outcome is kept for GET /databases.
   */
  async prune(now = Date.now()): Promise<PruneResult | null> {
    return pruneDatabase(this.#maintenance(), now);
  }

  #maintenance(): MaintenanceContext {
    return { db: this.db, env: this.env, store: this.store, entry: this.#entry() };
  }

  /** The database this object serves: the name it was addressed by (idFromName / getByName). */
  get db(): string {
    const name = this.ctx.id.name;
    if (!name) throw new PgsealError("INTERNAL", "DatabaseBackups must be addressed with idFromName(<database>)");
    return name;
  }

  #entry(): DatabaseEntry | undefined {
    return loadConfig(this.env).config.databases[this.db];
  }

  #driver(): DriverContext {
    const env = this.env;
    return {
      db: this.db,
      env,
      store: this.store,
      config: loadConfig(env).config,
      container: containerStub(env, this.db),
      slots: {
        acquire: (holder, jobId, max) => slotsStub(env).acquire(holder, jobId, max),
        release: async (holder) => void (await slotsStub(env).release(holder)),
      },
    };
  }

  // ---- RPC -------------------------------------------------------------------------------

  async startBackup(opts: { trigger: "manual" | "schedule" }, now = Date.now()): Promise<RpcResult<{ jobId: string }>> {
    const active = this.store.active();
    if (active) return { ok: false, error: { code: "JOB_ACTIVE", message: `a backup of '${this.db}' is already ${active.state} (job ${active.id})`, activeJobId: active.id } };
    if (!this.#entry()) return { ok: false, error: { code: "DATABASE_NOT_FOUND", message: `no database '${this.db}' in PGSEAL_CONFIG` } };
    const job = this.store.create(this.db, opts.trigger, now, opts.trigger === "manual" ? "started through the admin API" : "scheduled run");
    await this.#arm(now);
    await this.#flush();
    return { ok: true, value: { jobId: job.id } };
  }

  getJob(id: string): RpcResult<JobView> {
    const job = this.store.get(id);
    if (!job) return { ok: false, error: { code: "JOB_NOT_FOUND", message: `no job '${id}' for database '${this.db}'` } };
    return { ok: true, value: jobView(job, this.store.events(id), MAX_ATTEMPTS) };
  }

  listJobs(opts: { limit: number; before?: string }): RpcResult<JobPage> {
    try {
      const { jobs, more } = this.store.list(opts.limit, opts.before);
      return { ok: true, value: { jobs: jobs.map((j) => jobSummary(j, MAX_ATTEMPTS)), nextBefore: more ? jobs[jobs.length - 1].id : null } };
    } catch (e) {
      return fail(e);
    }
  }

  /** What GET /metrics exposes for this database: plain numbers, no names beyond the database's. */
  metricsFacts(): DatabaseMetrics {
    const facts = (j: JobRecord | null) => {
      const m = j?.result?.manifest;
      return j ? { finishedAtMs: j.updatedAt, durationSeconds: m?.timings.totalSeconds ?? null, dumpBytes: m?.dump.bytes ?? null, storedBytes: m?.artifact.bytes ?? null } : null;
    };
    const sealed = this.store.lastSealed();
    const last = this.store.lastFinished();
    const byState = this.store.countByState();
    const drill = sealed?.result?.drill;
    return {
      db: this.db,
      lastSealed: sealed ? { ...facts(sealed)!, restoreSeconds: drill?.restoreSeconds ?? null, tables: drill?.tables ?? null, rows: drill?.rows ?? null } : null,
      lastBackup: last ? { ...facts(last)!, state: last.state } : null,
      jobsByState: byState,
      drillFailures: byState["drill-failed"] ?? 0,
      activePhase: this.store.active()?.state ?? null,
    };
  }

  /** The month's jobs for the Restore Drill Report, plus the newest sealed job before it (the first RPO gap's anchor). */
  reportJobs(fromMs: number, toMs: number): ReportJob[] {
    const jobs = this.store.createdBetween(fromMs, toMs).filter((j) => isTerminal(j.state));
    const anchor = this.store.lastSealedBefore(fromMs);
    return [...(anchor ? [anchor] : []), ...jobs].map(toReportJob);
  }

  async cancel(id: string, now = Date.now()): Promise<RpcResult<{ jobId: string; state: string }>> {
    const job = this.store.get(id);
    if (!job) return { ok: false, error: { code: "JOB_NOT_FOUND", message: `no job '${id}' for database '${this.db}'` } };
    if (isTerminal(job.state)) return { ok: false, error: { code: "JOB_NOT_ACTIVE", message: `job ${id} already ended ${job.state}` } };
    const driver = this.#driver();
    let detail = "cancelled through the admin API";
    if (isRunning(job.state) && job.streamerJobId) {
      const outcome = await cancelJob(driver.container, job.streamerJobId);
      if (outcome.kind === "cancelling" || outcome.kind === "finished") {
        // Only the streamer knows whether a finished upload was taken back: its own end is what the job records.
        const end = await awaitStreamerEnd(driver.container, job.streamerJobId, CANCEL_WAIT_MS);
        const latest = this.store.get(id)!;
        if (end && !isTerminal(latest.state)) await applyStatus(driver, latest, end, now);
        const after = this.store.get(id)!;
        if (!isTerminal(after.state)) {
          // Still stopping: the polls apply its end; if the streamer is lost meanwhile, the job ends cancelled.
          this.store.setMeta(META_CANCEL_REQUESTED, id);
          return { ok: true, value: { jobId: id, state: "cancelling" } };
        }
        await this.#arm(now);
        await this.#flush();
        return { ok: true, value: { jobId: id, state: after.state } };
      }
      detail += outcome.kind === "unreachable" ? ` (the streamer did not answer: ${outcome.reason})` : ` (streamer: ${outcome.kind})`;
    }
    const latest = this.store.get(id)!;
    if (isTerminal(latest.state)) return { ok: true, value: { jobId: id, state: latest.state } };
    this.store.transition(latest, "cancelled", now, detail);
    if (latest.state !== "queued") await releaseSlot(driver);
    await this.#arm(now);
    await this.#flush();
    return { ok: true, value: { jobId: id, state: "cancelled" } };
  }

  status(now = Date.now()): DatabaseStatus {
    const entry = this.#entry();
    const active = this.store.active();
    const last = this.store.lastBackup();
    const sealed = this.store.lastSealed();
    const finished = this.store.lastFinished();
    const stored = this.store.getMeta(META_NEXT_RUN);
    const nextRun = entry?.enabled ? (stored !== null && this.store.getMeta(META_SCHEDULE) === entry.schedule ? Number(stored) : nextFireAt(entry.cron, this.db, now)) : null;
    const lastPollOk = this.store.getMeta(META_LAST_POLL_OK);
    return {
      db: this.db,
      configured: entry !== undefined,
      schedule: entry?.schedule ?? null,
      enabled: entry?.enabled ?? false,
      destination: entry?.destination ?? null,
      nextRunAt: nextRun === null ? null : new Date(nextRun).toISOString(),
      activeJob: active ? jobSummary(active, MAX_ATTEMPTS) : null,
      lastBackup: last
        ? {
            jobId: last.id,
            state: last.state,
            finishedAt: new Date(last.updatedAt).toISOString(),
            ageSeconds: Math.max(0, Math.round((now - last.updatedAt) / 1000)),
            artifactKey: last.result?.artifactKey ?? null,
          }
        : null,
      lastSealed: sealed
        ? {
            jobId: sealed.id,
            finishedAt: new Date(sealed.updatedAt).toISOString(),
            ageSeconds: Math.max(0, Math.round((now - sealed.updatedAt) / 1000)),
            artifactKey: sealed.result?.artifactKey ?? null,
            drill: drillSummary(sealed.result?.drill),
          }
        : null,
      lastJob: finished ? jobSummary(finished, MAX_ATTEMPTS) : null,
      lastPrune: parseMeta<DatabaseStatus["lastPrune"]>(this.store.getMeta(META_LAST_PRUNE)),
      lastPollOkAt: lastPollOk === null ? null : new Date(Number(lastPollOk)).toISOString(),
      openUploads: finished?.progress?.openUploads ?? [],
    };
  }

  /** From JobSlots when a slot frees: a job queued for capacity asks again now rather than at its next retry. */
  async wakeQueued(now = Date.now()): Promise<boolean> {
    const job = this.store.active();
    if (job?.state !== "queued" || job.notBefore <= now) return false;
    this.store.update(job, now, { notBefore: now });
    await this.#arm(now);
    return true;
  }

  /** Lifecycle news from PgDumpContainer. A stop or error while a job runs ends that attempt at once. */
  async containerEvent(e: ContainerEvent, now = Date.now()): Promise<{ handled: "recorded" | "attempt-ended" | "no-running-job" | "other-attempt" }> {
    this.store.setMeta(META_LAST_CONTAINER_EVENT, JSON.stringify({ ...e, at: now }));
    if (e.kind === "start") return { handled: "recorded" };
    const job = this.store.active();
    if (!job || !isRunning(job.state)) return { handled: "no-running-job" };
    // A container that ran another attempt (one that vanished while its object was down is reported during the next start).
    if (e.jobId !== undefined && e.jobId !== job.streamerJobId) {
      console.log(`pgseal: ${this.db}: a container ${e.kind} of job ${e.jobId} left job ${job.streamerJobId} (${job.state}) alone`);
      return { handled: "other-attempt" };
    }
    const what = e.kind === "stop" ? "stopped" : "failed";
    await endAttempt(this.#driver(), job, now, {
      code: "CONTAINER_LOST",
      message: `the container ${what} while the job was ${job.state}${e.detail ? `: ${e.detail.slice(0, 300)}` : ""}`,
      retryable: true,
    });
    await this.#arm(now);
    await this.#flush();
    return { handled: "attempt-ended" };
  }

  /**
   * For the cron watchdog: makes sure the alarm is set for whatever is due next (a running job's
   * poll, a queued start, the next scheduled run). It never starts a run itself: a run that is
   * already due gets an alarm now, and the alarm runs it once.
   */
  async ensureArmed(now = Date.now()): Promise<ArmReport> {
    await checkStale(this.#maintenance(), now);
    const scheduleChanged = this.#syncSchedule(now);
    const desired = this.#wakeAt();
    const current = await this.ctx.storage.getAlarm();
    let action: ArmReport["action"] = "ok";
    if (desired === null) {
      action = current === null ? "idle" : "ok";
    } else if (current === null) {
      action = "armed";
    } else if (current > desired || scheduleChanged) {
      action = "rearmed";
    }
    if (action === "armed" || action === "rearmed") await this.ctx.storage.setAlarm(Math.max(desired!, now));
    const alarm = await this.ctx.storage.getAlarm();
    const next = this.store.getMeta(META_NEXT_RUN);
    return {
      db: this.db,
      action,
      alarmAt: alarm === null ? null : new Date(alarm).toISOString(),
      nextRunAt: next === null ? null : new Date(Number(next)).toISOString(),
      activeJobId: this.store.active()?.id ?? null,
    };
  }

  // ---- alarm -----------------------------------------------------------------------------

  async alarm(): Promise<void> {
    await this.tick(Date.now());
  }

  /** One alarm's work at time `now` (tests pass a time to replay outages without waiting). */
  async tick(now: number): Promise<void> {
    this.#syncSchedule(now);
    const entry = this.#entry();
    const due = this.store.getMeta(META_NEXT_RUN);
    if (entry?.enabled && due !== null && Number(due) <= now) {
      const active = this.store.active();
      if (active) this.store.setMeta(META_LAST_SKIPPED, JSON.stringify({ dueAt: Number(due), at: now, activeJobId: active.id }));
      else this.store.create(this.db, "schedule", now, `scheduled run due at ${new Date(Number(due)).toISOString()}`);
      // From now, not from the missed time: however long the outage, it costs one run.
      this.store.setMeta(META_NEXT_RUN, String(nextFireAt(entry.cron, this.db, now)));
    }
    const job = this.store.active();
    if (job && job.notBefore <= now) {
      try {
        await driveJob(this.#driver(), job, now);
        const after = this.store.get(job.id);
        if (after && after.lastPollOkAt !== null && after.lastPollOkAt === now) this.store.setMeta(META_LAST_POLL_OK, String(now));
      } catch (e) {
        // Never let one bad step spin the alarm: log, back off one poll interval, carry on.
        console.error(`pgseal: job ${job.id} of ${this.db}: ${e instanceof Error ? e.message : String(e)}`);
        const fresh = this.store.get(job.id);
        if (fresh && !isTerminal(fresh.state)) this.store.update(fresh, now, { notBefore: now + POLL_INTERVAL_MS });
      }
    }
    await this.#arm(now);
    await this.#flush();
  }

  // ---- schedule and alarm bookkeeping ------------------------------------------------------

  /** Keeps the stored next run in line with the configured schedule; true when it (re)computed it. */
  #syncSchedule(now: number): boolean {
    const entry = this.#entry();
    if (!entry?.enabled) {
      const had = this.store.getMeta(META_NEXT_RUN) !== null;
      this.store.setMeta(META_NEXT_RUN, null);
      this.store.setMeta(META_SCHEDULE, null);
      return had;
    }
    if (this.store.getMeta(META_SCHEDULE) === entry.schedule && this.store.getMeta(META_NEXT_RUN) !== null) return false;
    this.store.setMeta(META_SCHEDULE, entry.schedule);
    this.store.setMeta(META_NEXT_RUN, String(nextFireAt(entry.cron, this.db, now)));
    return true;
  }

  #wakeAt(): number | null {
    const job: JobRecord | null = this.store.active();
    const next = this.store.getMeta(META_NEXT_RUN);
    const times = [job?.notBefore, next === null ? undefined : Number(next)].filter((t): t is number => t !== undefined);
    return times.length === 0 ? null : Math.min(...times);
  }

  async #arm(now: number): Promise<void> {
    const wake = this.#wakeAt();
    if (wake === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.max(wake, now));
  }
}
