// Alerts: the webhook message for a job's end or a stale database, healthchecks-style pings, and when each is due.
import { secretSuffix } from "./config.ts";
import { isTerminal, type JobState } from "./shared/contract/job-states.ts";
import type { DrillSummary } from "./shared/catalog/manifest.ts";

/** Secret names: one webhook for the deployment, an optional ping URL per database. */
export const ALERT_WEBHOOK_SECRET = "ALERT_WEBHOOK_URL";
export const pingSecret = (suffix: string) => `PING_URL_${suffix}`;
export const ALERT_TIMEOUT_MS = 10_000;
/** A stale database is announced again after this long, not on every 5-minute watchdog tick. */
export const STALE_REPEAT_MS = 24 * 3_600_000;

export type AlertEvent = "backup-failed" | "drill-failed" | "drill-skipped" | "backup-sealed" | "backup-uploaded" | "copy-failed" | "stale";

export interface AlertFacts {
  event: AlertEvent;
  db: string;
  at: string;
  jobId?: string;
  state?: JobState;
  code?: string;
  message?: string;
  artifactKey?: string;
  restoreSeconds?: number;
  tables?: number;
  rows?: number;
  lastSealedAt?: string | null;
  maxAgeHours?: number;
  /** For copy-failed: the destination whose copy failed. */
  destination?: string;
}

const HEADLINE: Record<AlertEvent, string> = {
  "backup-failed": "backup FAILED",
  "drill-failed": "restore drill FAILED: the backup is stored but NOT sealed",
  "drill-skipped": "restore drill skipped: the backup is stored but not sealed",
  "backup-sealed": "backup sealed",
  "backup-uploaded": "backup stored (drills are off for this database)",
  "copy-failed": "a copy to one destination FAILED (the other copies are stored)",
  stale: "no sealed backup within the allowed age",
};

/**
 * One body both Slack (`text`) and Discord (`content`) incoming webhooks accept, plus the facts as
 * fields for anything else. Facts are codes, counts and keys: never secrets, never table data.
 */
export function alertMessage(f: AlertFacts): Record<string, unknown> {
  const parts = [`pgseal: ${f.db}: ${HEADLINE[f.event]}`];
  if (f.code) parts.push(`${f.code}: ${f.message ?? ""}`.trim());
  if (f.event === "backup-sealed" && f.restoreSeconds !== undefined) parts.push(`restored in ${f.restoreSeconds} s; ${f.tables} tables, ${f.rows} rows verified`);
  if (f.event === "stale") parts.push(f.lastSealedAt ? `last sealed backup ${f.lastSealedAt} (limit ${f.maxAgeHours} h)` : `no sealed backup yet (limit ${f.maxAgeHours} h)`);
  if (f.destination) parts.push(`destination ${f.destination}`);
  if (f.jobId) parts.push(`job ${f.jobId}`);
  const text = parts.join("\n");
  return { text, content: text.slice(0, 2000), username: "pgseal", pgseal: f };
}

/** Which alert a job's arrival in `to` raises, if any. */
export function alertFor(to: JobState, onSuccess: boolean): AlertEvent | null {
  if (to === "failed") return "backup-failed";
  if (to === "drill-failed") return "drill-failed";
  if (to === "drill-skipped") return "drill-skipped";
  if (to === "sealed") return onSuccess ? "backup-sealed" : null;
  if (to === "uploaded") return onSuccess ? "backup-uploaded" : null;
  return null;
}

/** The healthchecks.io convention: <url>/start, <url> on success, <url>/fail. */
export function pingFor(to: JobState, attempt: number): "start" | "success" | "fail" | null {
  if (to === "starting" && attempt === 1) return "start";
  if (to === "sealed" || to === "uploaded") return "success";
  if (to === "failed" || to === "drill-failed" || to === "drill-skipped") return "fail";
  return null;
}

export function pingUrl(base: string, kind: "start" | "success" | "fail"): string {
  const trimmed = base.replace(/\/+$/, "");
  return kind === "success" ? trimmed : `${trimmed}/${kind}`;
}

/**
 * Whether a stale alert is due now: no sealed backup for longer than the limit (counting from the
 * first job when there was never one), and none announced within STALE_REPEAT_MS.
 */
export function staleDue(o: { lastSealedMs: number | null; firstJobMs: number | null; maxAgeMs: number; lastAlertMs: number | null; now: number }): boolean {
  const since = o.lastSealedMs ?? o.firstJobMs;
  if (since === null || o.now - since <= o.maxAgeMs) return false;
  return o.lastAlertMs === null || o.now - o.lastAlertMs >= STALE_REPEAT_MS || (o.lastSealedMs !== null && o.lastAlertMs < o.lastSealedMs);
}

/**
 * The parts of a job record alerts read (src/do/job-store.ts's JobRecord has them). Declared here
 * so this module stays free of Workers-only types: the Node side imports its secret names.
 */
export interface AlertJob {
  id: string;
  state: JobState;
  attempt: number;
  updatedAt: number;
  error: { code: string; message: string } | null;
  result: { artifactKey?: string | null; drill?: DrillSummary; copies?: { name: string; ok: boolean; error?: { code: string; message: string } }[] } | null;
}

/** One message to send: a webhook alert (with a body) or a ping (without). */
export interface Outgoing {
  url: string;
  body?: Record<string, unknown>;
  what: string;
}

/**
 * What a job's arrival in its current state sends: the ping, a copy-failed alert per failed copy
 * (news even when the job sealed from another copy), and the state's own alert. Secrets (the URLs)
 * come from the Worker's env; nothing is sent for a setting that is not there.
 */
export function messagesFor(job: AlertJob, db: string, env: object, onSuccess: boolean): Outgoing[] {
  const bag = env as Record<string, unknown>;
  const out: Outgoing[] = [];
  const ping = pingFor(job.state, job.attempt);
  const pingBase = bag[pingSecret(secretSuffix(db))];
  if (ping && typeof pingBase === "string" && pingBase !== "") out.push({ url: pingUrl(pingBase, ping), what: `ping ${ping}` });
  const webhook = bag[ALERT_WEBHOOK_SECRET];
  if (typeof webhook !== "string" || webhook === "") return out;
  const at = new Date(job.updatedAt).toISOString();
  if (isTerminal(job.state)) {
    for (const c of job.result?.copies?.filter((x) => !x.ok) ?? []) {
      out.push({
        url: webhook,
        what: "alert",
        body: alertMessage({ event: "copy-failed", db, at, jobId: job.id, state: job.state, destination: c.name, ...(c.error ? { code: c.error.code, message: c.error.message } : {}) }),
      });
    }
  }
  const event = alertFor(job.state, onSuccess);
  if (!event) return out;
  const drill = job.result?.drill;
  out.push({
    url: webhook,
    what: "alert",
    body: alertMessage({
      event,
      db,
      at,
      jobId: job.id,
      state: job.state,
      ...(job.error ? { code: job.error.code, message: job.error.message } : {}),
      ...(job.result?.artifactKey ? { artifactKey: job.result.artifactKey } : {}),
      ...(drill ? { restoreSeconds: drill.restoreSeconds, tables: drill.tables, rows: drill.rows } : {}),
    }),
  });
  return out;
}

/** POSTs or GETs without ever throwing: an unreachable webhook is logged (without its URL, a secret) and the job goes on. */
export async function deliver(url: string, body?: Record<string, unknown>, what = "alert"): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(ALERT_TIMEOUT_MS),
    });
    await res.body?.cancel();
    if (!res.ok) console.warn(`pgseal: ${what} delivery answered HTTP ${res.status}`);
    return res.ok;
  } catch (e) {
    console.warn(`pgseal: ${what} delivery failed: ${e instanceof Error ? e.name : "error"}`);
    return false;
  }
}
