// JobSlots: the global Durable Object that leases container slots, so at most maxConcurrentJobs backups run at once (and remembers signed-out dashboard sessions).
import { DurableObject } from "cloudflare:workers";

/** Renewed on every poll (every few seconds); two minutes of silence frees the slot. */
export const LEASE_MS = 120_000;
export const JOB_SLOTS_NAME = "global";
/** A few rather than all: each woken database asks once; one that loses the race waits for the next release. */
const WAKE_PER_RELEASE = 3;

export interface SlotGrant {
  granted: boolean;
  inUse: number;
}

/**
 * A lease expires unless renewed, so a DatabaseBackups object that crashed or was evicted mid-job
 * can never hold a slot for longer than LEASE_MS (docs/JOBS.md, "Capacity").
 */
export class JobSlots extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS leases (holder TEXT PRIMARY KEY, job_id TEXT NOT NULL, expires_at INTEGER NOT NULL)");
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS waiters (holder TEXT PRIMARY KEY, since INTEGER NOT NULL)");
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS revoked_sessions (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)");
  }

  // Dashboard sign-outs live here too: this is the deployment's one global object, and a signed
  // session cookie can only be withdrawn by remembering it until it would have expired anyway.

  /** Signs a dashboard session out for good (its id is the session's CSRF nonce). */
  revokeSession(id: string, expiresAtMs: number): void {
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM revoked_sessions WHERE expires_at <= ?", Date.now());
    sql.exec("INSERT INTO revoked_sessions (id, expires_at) VALUES (?, ?) ON CONFLICT(id) DO NOTHING", id, expiresAtMs);
  }

  isSessionRevoked(id: string): boolean {
    return this.ctx.storage.sql.exec("SELECT 1 FROM revoked_sessions WHERE id = ?", id).toArray().length > 0;
  }

  /** Takes or renews `holder`'s slot (one per database). Renewal always succeeds, even above a lowered max. */
  acquire(holder: string, jobId: string, max: number): SlotGrant {
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM leases WHERE expires_at <= ?", now);
    const mine = sql.exec("SELECT 1 FROM leases WHERE holder = ?", holder).toArray().length > 0;
    const inUse = Number(sql.exec("SELECT count(*) AS n FROM leases").one().n);
    if (!mine && inUse >= max) {
      // Remembered, so a release can wake it at once instead of at its next retry.
      sql.exec("INSERT INTO waiters (holder, since) VALUES (?, ?) ON CONFLICT(holder) DO NOTHING", holder, now);
      return { granted: false, inUse };
    }
    sql.exec("DELETE FROM waiters WHERE holder = ?", holder);
    sql.exec(
      "INSERT INTO leases (holder, job_id, expires_at) VALUES (?, ?, ?) ON CONFLICT(holder) DO UPDATE SET job_id = excluded.job_id, expires_at = excluded.expires_at",
      holder,
      jobId,
      now + LEASE_MS,
    );
    return { granted: true, inUse: mine ? inUse : inUse + 1 };
  }

  /** Frees `holder`'s slot and wakes the longest-waiting databases, which then ask for it at once. */
  async release(holder: string): Promise<void> {
    const sql = this.ctx.storage.sql;
    const had = sql.exec("DELETE FROM leases WHERE holder = ?", holder).rowsWritten > 0;
    if (!had) return;
    const woken = sql
      .exec("SELECT holder FROM waiters ORDER BY since LIMIT ?", WAKE_PER_RELEASE)
      .toArray()
      .map((r) => String(r.holder));
    for (const w of woken) {
      sql.exec("DELETE FROM waiters WHERE holder = ?", w);
      try {
        await this.env.DATABASE_BACKUPS.getByName(w).wakeQueued();
      } catch (e) {
        // It still retries on its own (QUEUE_RETRY_MS): a lost wake-up only costs that wait.
        console.warn(`pgseal: waking ${w} for a free slot failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  /** Live leases, for status pages and tests. */
  leases(): { holder: string; jobId: string; expiresAt: number }[] {
    return this.ctx.storage.sql
      .exec("SELECT holder, job_id, expires_at FROM leases WHERE expires_at > ? ORDER BY holder", Date.now())
      .toArray()
      .map((r) => ({ holder: String(r.holder), jobId: String(r.job_id), expiresAt: Number(r.expires_at) }));
  }
}
