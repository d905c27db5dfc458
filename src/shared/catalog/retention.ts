// Retention planning: which of one database's backups a GFS policy keeps or deletes, and why; pure (no I/O, no clock).
//
// The planner decides over the items it is given (one database's backups: key, createdAt, manifest
// status, object lock) at the instant `now` it is given. It never reads a clock and never touches
// a bucket; src/shared/catalog/prune.ts reads the manifests and carries the plan out.
//
// Invariants (retention.test.ts checks each, as a property test where one applies):
//  1. Only sealed backups (restore-drilled and verified) count toward keepLast and the GFS periods.
//     GFS works as restic's `forget --keep-*`: walk the sealed backups newest first; for each kind
//     (hourly, daily, weekly, monthly, yearly) the newest backup of each distinct period is kept,
//     until that kind's count of periods is used up. Periods are counted over the backups that
//     exist, not over the calendar: "daily 7" keeps the newest sealed backup of each of the 7 most
//     recent days that have one. Periods are UTC: hour "YYYY-MM-DDTHH", day "YYYY-MM-DD", ISO-8601
//     week "GGGG-Www" (the week-numbering year: 2027-01-01 is in 2026-W53), month "YYYY-MM",
//     year "YYYY". keepLast keeps the newest N sealed backups. A backup kept for several reasons
//     lists them all.
//  2. The newest sealed backup is never deleted, whatever the policy (keepLast 0, all counts 0,
//     older than maxAgeDays).
//  3. maxAgeDays (null = no maximum): a sealed backup older than it is deleted even if keepLast or a
//     GFS period would keep it; rules 2 and 5 still win.
//  4. Unsealed backups (uploaded, drill-failed, drill-skipped) never count toward the policy. One is
//     deleted only when BOTH it is older than unsealedGraceDays AND a sealed backup newer than it
//     exists. So nothing unsealed goes before a newer sealed backup exists, and unsealed backups
//     newer than every sealed one (a run of failures) are never deleted and change no other decision.
//  5. An item locked (`lockedUntil`, object lock) until after `now` is kept, with the reason
//     "locked until …"; locks never count toward the policy.
//  6. Deterministic: the same items in any order give the same plan. Both lists are sorted newest
//     first (ties: key in code-unit order); every item is in exactly one of them; a decision's
//     createdAt is the item's UTC instant in toISOString form.
//  7. Idempotent at the same `now`: planning again over the kept items deletes nothing. (Not across
//     time: a later `now` can end a grace period, pass maxAgeDays or outlive a lock.)
// An item whose createdAt (or lockedUntil) is not an ISO-8601 date-time with a UTC offset, an
// unknown status or a repeated key is a MANIFEST_INVALID error naming the key: nothing is planned.
import { PgsealError } from "../errors.ts";
import type { ManifestStatus } from "./manifest.ts";

export interface RetentionPolicy {
  /** The newest N sealed backups. */
  keepLast: number;
  /** Newest sealed backup of each of the N most recent UTC hours that have one. */
  hourly: number;
  /** … of each of the N most recent UTC days that have one. */
  daily: number;
  /** … of each of the N most recent ISO-8601 weeks (UTC) that have one. */
  weekly: number;
  /** … of each of the N most recent UTC months that have one. */
  monthly: number;
  /** … of each of the N most recent UTC years that have one. */
  yearly: number;
  /** Sealed backups older than this many days are deleted, except the newest sealed and locked ones; null: no maximum. */
  maxAgeDays: number | null;
  /** Unsealed backups younger than this many days are never deleted; older ones only once a newer sealed backup exists. */
  unsealedGraceDays: number;
}

/**
 * The defaults: the newest 3 sealed backups, one a day for a week, one a week for four weeks,
 * one a month for a year; no hourly or yearly keeps, no maximum age; unsealed backups get 7 days.
 */
export const DEFAULT_RETENTION: RetentionPolicy = Object.freeze({
  keepLast: 3,
  hourly: 0,
  daily: 7,
  weekly: 4,
  monthly: 12,
  yearly: 0,
  maxAgeDays: null,
  unsealedGraceDays: 7,
});

export interface RetentionProblem {
  path: string;
  message: string;
}

export interface RetentionItem {
  key: string;
  createdAt: string;
  status: ManifestStatus;
  /** Object lock: the item cannot be deleted before this instant. */
  lockedUntil?: string | null;
}

export interface RetentionDecision {
  key: string;
  /** The item's createdAt as a UTC instant (toISOString). */
  createdAt: string;
  status: ManifestStatus;
  action: "keep" | "delete";
  /** Every reason that applies, e.g. "newest sealed", "keep-last 2/3", "daily 2026-11-20", "weekly 2026-W47". */
  reasons: string[];
}

export interface RetentionPlan {
  keep: RetentionDecision[];
  delete: RetentionDecision[];
}

const COUNTS = ["keepLast", "hourly", "daily", "weekly", "monthly", "yearly"] as const;
const FIELDS = [...COUNTS, "maxAgeDays", "unsealedGraceDays"] as const;
const MAX_COUNT = 100_000;
const MAX_DAYS = 36_500;
const STATUSES: readonly string[] = ["uploaded", "sealed", "drill-failed", "drill-skipped"] satisfies ManifestStatus[];

const wholeIn = (v: unknown, min: number, max: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;

/**
 * Validates a policy as written in config or built from flags: every bad field is a problem named
 * by its path (`${path}.daily`), unknown fields are problems, missing fields take the defaults.
 * The policy returned is always usable: a bad field keeps its default.
 */
export function parseRetentionPolicy(raw: unknown, path: string): { policy: RetentionPolicy; problems: RetentionProblem[] } {
  const problems: RetentionProblem[] = [];
  const policy: RetentionPolicy = { ...DEFAULT_RETENTION };
  const at = (field: string) => (path ? `${path}.${field}` : field);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push({ path, message: `must be an object with some of: ${FIELDS.join(", ")}` });
    return { policy, problems };
  }
  const bag = raw as Record<string, unknown>;
  for (const k of Object.keys(bag)) {
    if (!(FIELDS as readonly string[]).includes(k)) problems.push({ path: at(k), message: `unknown field (known: ${FIELDS.join(", ")})` });
  }
  for (const field of COUNTS) {
    const v = bag[field];
    if (v === undefined) continue;
    if (wholeIn(v, 0, MAX_COUNT)) policy[field] = v;
    else problems.push({ path: at(field), message: `must be a whole number from 0 to ${MAX_COUNT}` });
  }
  const maxAge = bag.maxAgeDays;
  if (maxAge === null || wholeIn(maxAge, 1, MAX_DAYS)) policy.maxAgeDays = maxAge;
  else if (maxAge !== undefined) problems.push({ path: at("maxAgeDays"), message: `must be null (no maximum) or a whole number of days from 1 to ${MAX_DAYS}` });
  const grace = bag.unsealedGraceDays;
  if (wholeIn(grace, 0, MAX_DAYS)) policy.unsealedGraceDays = grace;
  else if (grace !== undefined) problems.push({ path: at("unsealedGraceDays"), message: `must be a whole number of days from 0 to ${MAX_DAYS}` });
  return { policy, problems };
}

const DAY_MS = 86_400_000;

// YYYY-MM-DDTHH:MM[:SS[.fraction]] then Z or ±HH:MM: an instant, never a local time.
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):(\d{2}))$/i;

/** Milliseconds since the epoch of an ISO-8601 date-time with an offset; null if it is not one (or names no real date). */
function parseInstant(s: string): number | null {
  const m = ISO_INSTANT.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number);
  const sec = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, "0"));
  const offH = m[8] ? 0 : Number(m[10]);
  const offM = m[8] ? 0 : Number(m[11]);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 || offH > 23 || offM > 59) return null;
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d); // setUTCFullYear, not Date.UTC: years 0-99 stay themselves
  if (t.getUTCDate() !== d) return null; // 2026-02-30 rolled over into March
  t.setUTCHours(h, mi, sec, ms);
  const sign = m[9] === "-" ? -1 : 1;
  return t.getTime() - sign * (offH * 60 + offM) * 60_000;
}

/** "2026-12-01T00:00:00Z": toISOString without a zero millisecond part. */
function isoUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, "Z");
}

type PeriodKind = "hourly" | "daily" | "weekly" | "monthly" | "yearly";
const PERIODS: readonly PeriodKind[] = ["hourly", "daily", "weekly", "monthly", "yearly"];

/** The UTC period of `kind` that contains the instant `ms`, as a label that names it. */
function period(kind: PeriodKind, ms: number): string {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ (years 0-9999)
  switch (kind) {
    case "hourly":
      return iso.slice(0, 13);
    case "daily":
      return iso.slice(0, 10);
    case "monthly":
      return iso.slice(0, 7);
    case "yearly":
      return iso.slice(0, 4);
    case "weekly": {
      // ISO-8601: weeks start on Monday; a week belongs to the year that holds its Thursday.
      const day = Math.floor(ms / DAY_MS) * DAY_MS;
      const mondayBased = (new Date(day).getUTCDay() + 6) % 7;
      const thursday = new Date(day + (3 - mondayBased) * DAY_MS);
      const year = thursday.getUTCFullYear();
      const jan1 = new Date(0);
      jan1.setUTCFullYear(year, 0, 1);
      const week = Math.floor((thursday.getTime() - jan1.getTime()) / DAY_MS / 7) + 1;
      return `${String(year).padStart(4, "0")}-W${String(week).padStart(2, "0")}`;
    }
  }
}

interface Entry {
  item: RetentionItem;
  ms: number;
  lockMs: number | null;
  sealed: boolean;
}

const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function entriesOf(items: readonly RetentionItem[]): Entry[] {
  const seen = new Set<string>();
  const out: Entry[] = [];
  for (const item of items) {
    const key = item.key;
    const bad = (what: string) => new PgsealError("MANIFEST_INVALID", `retention: backup ${JSON.stringify(key)}: ${what}`);
    if (seen.has(key)) throw bad("appears twice");
    seen.add(key);
    if (!STATUSES.includes(item.status)) throw bad(`unknown status ${JSON.stringify(String(item.status).slice(0, 40))}`);
    const ms = typeof item.createdAt === "string" ? parseInstant(item.createdAt) : null;
    if (ms === null) throw bad(`createdAt ${JSON.stringify(String(item.createdAt).slice(0, 40))} is not an ISO-8601 date-time with a UTC offset`);
    let lockMs: number | null = null;
    if (item.lockedUntil !== undefined && item.lockedUntil !== null) {
      lockMs = typeof item.lockedUntil === "string" ? parseInstant(item.lockedUntil) : null;
      if (lockMs === null) throw bad(`lockedUntil ${JSON.stringify(String(item.lockedUntil).slice(0, 40))} is not an ISO-8601 date-time with a UTC offset`);
    }
    out.push({ item, ms, lockMs, sealed: item.status === "sealed" });
  }
  // Newest first; equal instants by key, so the order never depends on the input's.
  return out.sort((a, b) => b.ms - a.ms || byKey(a.item.key, b.item.key));
}

/** Plans retention for one database's backups at `now`; see the invariants at the top of this file. */
export function planRetention(items: readonly RetentionItem[], policy: RetentionPolicy, now: Date): RetentionPlan {
  const checked = parseRetentionPolicy(policy, "policy");
  if (checked.problems.length) throw new PgsealError("CONFIG_INVALID", `retention: ${checked.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`);
  const nowMs = now.getTime();
  if (Number.isNaN(nowMs)) throw new PgsealError("INTERNAL", "retention: now is not a valid date");
  const entries = entriesOf(items);
  const sealed = entries.filter((e) => e.sealed);
  const newestSealed: Entry | undefined = sealed[0];

  // Rule 1: keep-last and the GFS periods, over sealed backups only.
  const policyReasons = new Map<Entry, string[]>();
  const add = (e: Entry, reason: string) => {
    const list = policyReasons.get(e);
    if (list) list.push(reason);
    else policyReasons.set(e, [reason]);
  };
  for (const [i, e] of sealed.slice(0, policy.keepLast).entries()) add(e, `keep-last ${i + 1}/${policy.keepLast}`);
  for (const kind of PERIODS) {
    let left = policy[kind];
    let last: string | null = null;
    for (const e of sealed) {
      if (left === 0) break;
      const p = period(kind, e.ms);
      if (p === last) continue; // an older backup of a period already kept
      add(e, `${kind} ${p}`);
      last = p;
      left--;
    }
  }

  const plan: RetentionPlan = { keep: [], delete: [] };
  const graceMs = policy.unsealedGraceDays * DAY_MS;
  for (const e of entries) {
    let keep: boolean;
    let reasons: string[];
    if (e.sealed) {
      const kept = policyReasons.get(e) ?? [];
      const tooOld = policy.maxAgeDays !== null && nowMs - e.ms > policy.maxAgeDays * DAY_MS;
      if (e === newestSealed) {
        // Rule 2.
        keep = true;
        reasons = ["newest sealed", ...kept];
        if (tooOld) reasons.push(`older than max age ${policy.maxAgeDays} d, but the newest sealed is never deleted`);
      } else if (tooOld) {
        // Rule 3.
        keep = false;
        reasons = [`older than max age ${policy.maxAgeDays} d`];
        if (kept.length) reasons.push(`max age overrides: ${kept.join(", ")}`);
      } else {
        keep = kept.length > 0;
        reasons = keep ? kept : ["sealed, not kept by keep-last or any period"];
      }
    } else {
      // Rule 4.
      const pastGrace = nowMs - e.ms > graceMs;
      const newerSealed = newestSealed !== undefined && newestSealed.ms > e.ms;
      keep = !(pastGrace && newerSealed);
      reasons = [];
      if (!pastGrace) reasons.push(`unsealed, within grace (${policy.unsealedGraceDays} d)`);
      if (!newerSealed) reasons.push("unsealed, waiting for a newer sealed backup");
      if (!keep) reasons.push(`unsealed, past grace (${policy.unsealedGraceDays} d) and a newer sealed backup exists`);
    }
    if (e.lockMs !== null && e.lockMs > nowMs) {
      // Rule 5.
      const lock = `locked until ${isoUtc(e.lockMs)}`;
      if (keep) reasons.push(lock);
      else reasons = [lock, `without the lock: delete (${reasons.join("; ")})`];
      keep = true;
    }
    const decision: RetentionDecision = {
      key: e.item.key,
      createdAt: new Date(e.ms).toISOString(),
      status: e.item.status,
      action: keep ? "keep" : "delete",
      reasons,
    };
    (keep ? plan.keep : plan.delete).push(decision);
  }
  return plan;
}
