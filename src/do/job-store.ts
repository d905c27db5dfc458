// DatabaseBackups' SQLite tables (jobs, job_events, meta) and the only code that writes a job's state.
import { PgsealError } from "../shared/errors.ts";
import type { StreamerJobResult, StreamerProgress } from "../shared/contract/streamer-job.ts";
import { assertTransition, JOB_STATES, TRANSITIONS, type JobState, type JobTrigger } from "../shared/contract/job-states.ts";

/** Older finished jobs are pruned beyond this many, so an object's storage stays small for years. */
export const MAX_JOBS_KEPT = 1000;

export interface JobError {
  code: string;
  message: string;
  retryable: boolean;
}

export interface JobRecord {
  id: string;
  db: string;
  trigger: JobTrigger;
  state: JobState;
  createdAt: number;
  updatedAt: number;
  attempt: number;
  /** When the alarm should next act on this job: start (queued) or poll (running). */
  notBefore: number;
  streamerJobId: string | null;
  missedPolls: number;
  lastPollOkAt: number | null;
  progress: StreamerProgress | null;
  result: StreamerJobResult | null;
  error: JobError | null;
}

export interface JobEvent {
  at: number;
  from: JobState | null;
  to: JobState;
  detail: string | null;
}

/** Fields a state change or a poll may set alongside it. */
export type JobPatch = Partial<Pick<JobRecord, "attempt" | "notBefore" | "streamerJobId" | "missedPolls" | "lastPollOkAt" | "progress" | "result" | "error">>;

const STATE_LIST = JOB_STATES.map((s) => `'${s}'`).join(", ");
const TERMINAL_LIST = JOB_STATES.filter((s) => TRANSITIONS[s].length === 0)
  .map((s) => `'${s}'`)
  .join(", ");

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  db TEXT NOT NULL,
  trigger TEXT NOT NULL CHECK (trigger IN ('manual', 'schedule')),
  state TEXT NOT NULL CHECK (state IN (${STATE_LIST})),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 1,
  not_before INTEGER NOT NULL,
  streamer_job_id TEXT,
  missed_polls INTEGER NOT NULL DEFAULT 0,
  last_poll_ok_at INTEGER,
  progress TEXT,
  result TEXT,
  error_code TEXT,
  error_message TEXT,
  retryable INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS job_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  from_state TEXT,
  to_state TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS job_events_job ON job_events(job_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

type Row = Record<string, SqlStorageValue>;

function parseJson<T>(v: SqlStorageValue): T | null {
  return typeof v === "string" ? (JSON.parse(v) as T) : null;
}

function toRecord(r: Row): JobRecord {
  return {
    id: String(r.id),
    db: String(r.db),
    trigger: r.trigger as JobTrigger,
    state: r.state as JobState,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    attempt: Number(r.attempt),
    notBefore: Number(r.not_before),
    streamerJobId: r.streamer_job_id === null ? null : String(r.streamer_job_id),
    missedPolls: Number(r.missed_polls),
    lastPollOkAt: r.last_poll_ok_at === null ? null : Number(r.last_poll_ok_at),
    progress: parseJson<StreamerProgress>(r.progress),
    result: parseJson<StreamerJobResult>(r.result),
    error: r.error_code === null ? null : { code: String(r.error_code), message: String(r.error_message ?? ""), retryable: r.retryable === 1 },
  };
}

function patchColumns(patch: JobPatch): [string, SqlStorageValue][] {
  const cols: [string, SqlStorageValue][] = [];
  if (patch.attempt !== undefined) cols.push(["attempt", patch.attempt]);
  if (patch.notBefore !== undefined) cols.push(["not_before", patch.notBefore]);
  if (patch.streamerJobId !== undefined) cols.push(["streamer_job_id", patch.streamerJobId]);
  if (patch.missedPolls !== undefined) cols.push(["missed_polls", patch.missedPolls]);
  if (patch.lastPollOkAt !== undefined) cols.push(["last_poll_ok_at", patch.lastPollOkAt]);
  if (patch.progress !== undefined) cols.push(["progress", patch.progress === null ? null : JSON.stringify(patch.progress)]);
  if (patch.result !== undefined) cols.push(["result", patch.result === null ? null : JSON.stringify(patch.result)]);
  if (patch.error !== undefined) {
    cols.push(["error_code", patch.error?.code ?? null], ["error_message", patch.error?.message ?? null]);
    cols.push(["retryable", patch.error === null ? null : patch.error.retryable ? 1 : 0]);
  }
  return cols;
}

/** `20261122T130501Z-3f9a`: sortable, readable, and short enough for the streamer's 64-character ids. */
function newJobId(now: number): string {
  const stamp = new Date(now)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const rand = [...crypto.getRandomValues(new Uint8Array(2))].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${stamp}-${rand}`;
}

export class JobStore {
  readonly #storage: DurableObjectStorage;
  /** Told of every state change after it is written (alerts, pings); must not throw. */
  onTransition?: (job: JobRecord, from: JobState) => void;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    storage.sql.exec(SCHEMA);
  }

  get #sql(): SqlStorage {
    return this.#storage.sql;
  }

  get(id: string): JobRecord | null {
    const rows = this.#sql.exec<Row>("SELECT * FROM jobs WHERE id = ?", id).toArray();
    return rows.length === 0 ? null : toRecord(rows[0]);
  }

  /** The one job that is not in an end state, if any (at most one exists by construction). */
  active(): JobRecord | null {
    const rows = this.#sql.exec<Row>(`SELECT * FROM jobs WHERE state NOT IN (${TERMINAL_LIST}) ORDER BY seq DESC LIMIT 1`).toArray();
    return rows.length === 0 ? null : toRecord(rows[0]);
  }

  create(db: string, trigger: JobTrigger, now: number, detail: string): JobRecord {
    const active = this.active();
    if (active) throw new PgsealError("JOB_ACTIVE", `job ${active.id} is still ${active.state}`);
    let id = newJobId(now);
    while (this.get(id)) id = newJobId(now);
    this.#storage.transactionSync(() => {
      this.#sql.exec("INSERT INTO jobs (id, db, trigger, state, created_at, updated_at, not_before) VALUES (?, ?, ?, 'queued', ?, ?, ?)", id, db, trigger, now, now, now);
      this.#sql.exec("INSERT INTO job_events (job_id, at, from_state, to_state, detail) VALUES (?, ?, NULL, 'queued', ?)", id, now, detail);
      this.#prune();
    });
    return this.get(id)!;
  }

  /**
   * Moves a job to `to` if the transition table allows it AND the job is still in the state the
   * caller saw (`job.state`): work done across an await never overwrites a newer state.
   */
  transition(job: JobRecord, to: JobState, now: number, detail: string, patch: JobPatch = {}): JobRecord {
    assertTransition(job.state, to);
    const cols = patchColumns(patch);
    const sets = ["state = ?", "updated_at = ?", ...cols.map(([c]) => `${c} = ?`)].join(", ");
    this.#storage.transactionSync(() => {
      const changed = this.#sql.exec(`UPDATE jobs SET ${sets} WHERE id = ? AND state = ? AND attempt = ?`, to, now, ...cols.map(([, v]) => v), job.id, job.state, job.attempt).rowsWritten;
      if (changed === 0) throw new PgsealError("INTERNAL", `job ${job.id} is no longer ${job.state} (attempt ${job.attempt}): transition to ${to} dropped`);
      this.#sql.exec("INSERT INTO job_events (job_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)", job.id, now, job.state, to, detail);
    });
    const after = this.get(job.id)!;
    this.onTransition?.(after, job.state);
    return after;
  }

  /** Non-state fields (progress, poll bookkeeping), under the same "still as seen" guard. */
  update(job: JobRecord, now: number, patch: JobPatch): JobRecord | null {
    const cols = patchColumns(patch);
    if (cols.length === 0) return job;
    const sets = ["updated_at = ?", ...cols.map(([c]) => `${c} = ?`)].join(", ");
    const changed = this.#sql.exec(`UPDATE jobs SET ${sets} WHERE id = ? AND state = ? AND attempt = ?`, now, ...cols.map(([, v]) => v), job.id, job.state, job.attempt).rowsWritten;
    return changed === 0 ? null : this.get(job.id);
  }

  events(id: string): JobEvent[] {
    return this.#sql
      .exec<Row>("SELECT at, from_state, to_state, detail FROM job_events WHERE job_id = ? ORDER BY seq", id)
      .toArray()
      .map((r) => ({ at: Number(r.at), from: r.from_state === null ? null : (r.from_state as JobState), to: r.to_state as JobState, detail: r.detail === null ? null : String(r.detail) }));
  }

  /** Newest first; `before` is the id of the last job of the previous page. */
  list(limit: number, before?: string): { jobs: JobRecord[]; more: boolean } {
    let rows: Row[];
    if (before !== undefined) {
      const anchor = this.#sql.exec<Row>("SELECT seq FROM jobs WHERE id = ?", before).toArray();
      if (anchor.length === 0) throw new PgsealError("BAD_REQUEST", `before: no job '${before}' in this database`);
      rows = this.#sql.exec<Row>("SELECT * FROM jobs WHERE seq < ? ORDER BY seq DESC LIMIT ?", anchor[0].seq, limit + 1).toArray();
    } else {
      rows = this.#sql.exec<Row>("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", limit + 1).toArray();
    }
    return { jobs: rows.slice(0, limit).map(toRecord), more: rows.length > limit };
  }

  /** The newest job that ended with a stored backup. */
  /** Ended jobs per end state, over the whole history (the metrics' counters). */
  countByState(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.#sql.exec<Row>(`SELECT state, count(*) AS n FROM jobs WHERE state IN (${TERMINAL_LIST}) GROUP BY state`).toArray()) out[String(r.state)] = Number(r.n);
    return out;
  }

  /** The oldest job still stored: "never sealed since when" for stale alerts. */
  first(): JobRecord | null {
    const rows = this.#sql.exec<Row>("SELECT * FROM jobs ORDER BY seq LIMIT 1").toArray();
    return rows.length === 0 ? null : toRecord(rows[0]);
  }

  /** The newest sealed backup: the only kind that counts as good (a drill-failed one never does). */
  lastSealed(): JobRecord | null {
    const rows = this.#sql.exec<Row>("SELECT * FROM jobs WHERE state = 'sealed' ORDER BY seq DESC LIMIT 1").toArray();
    return rows.length === 0 ? null : toRecord(rows[0]);
  }

  lastSealedBefore(ms: number): JobRecord | null {
    const rows = this.#sql.exec<Row>("SELECT * FROM jobs WHERE state = 'sealed' AND created_at < ? ORDER BY seq DESC LIMIT 1", ms).toArray();
    return rows.length === 0 ? null : toRecord(rows[0]);
  }

  /** Jobs created in [fromMs, toMs), oldest first: the monthly report's input. */
  createdBetween(fromMs: number, toMs: number): JobRecord[] {
    return this.#sql.exec<Row>("SELECT * FROM jobs WHERE created_at >= ? AND created_at < ? ORDER BY seq", fromMs, toMs).toArray().map(toRecord);
  }

  lastBackup(): JobRecord | null {
    const rows = this.#sql.exec<Row>("SELECT * FROM jobs WHERE state IN ('uploaded', 'sealed', 'drill-skipped') ORDER BY seq DESC LIMIT 1").toArray();
    return rows.length === 0 ? null : toRecord(rows[0]);
  }

  /** The newest job in an end state. */
  lastFinished(): JobRecord | null {
    const rows = this.#sql.exec<Row>(`SELECT * FROM jobs WHERE state IN (${TERMINAL_LIST}) ORDER BY seq DESC LIMIT 1`).toArray();
    return rows.length === 0 ? null : toRecord(rows[0]);
  }

  getMeta(key: string): string | null {
    const rows = this.#sql.exec<Row>("SELECT value FROM meta WHERE key = ?", key).toArray();
    return rows.length === 0 ? null : String(rows[0].value);
  }

  setMeta(key: string, value: string | null): void {
    if (value === null) this.#sql.exec("DELETE FROM meta WHERE key = ?", key);
    else this.#sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value);
  }

  #prune(): void {
    const cut = this.#sql.exec<Row>("SELECT seq FROM jobs ORDER BY seq DESC LIMIT 1 OFFSET ?", MAX_JOBS_KEPT).toArray();
    if (cut.length === 0) return;
    const seq = cut[0].seq;
    this.#sql.exec(`DELETE FROM job_events WHERE job_id IN (SELECT id FROM jobs WHERE seq <= ? AND state IN (${TERMINAL_LIST}))`, seq);
    this.#sql.exec(`DELETE FROM jobs WHERE seq <= ? AND state IN (${TERMINAL_LIST})`, seq);
  }
}
