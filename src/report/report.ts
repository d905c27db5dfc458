// The Restore Drill Report's data model: a month of job records in, per-database figures (counts, restore-time statistics, trend, achieved RPO, failures) out, JSON-serialisable.
import { PgsealError } from "../shared/errors.ts";
import { monthLabel, monthRange } from "./month.ts";

export { monthLabel, monthRange };

export type ReportJobState = "sealed" | "drill-failed" | "drill-skipped" | "failed" | "cancelled" | "uploaded";

export interface ReportDrill {
  restoreSeconds: number;
  countSeconds: number;
  totalSeconds: number;
  tables: number;
  rows: number;
  verdict: "pass" | "fail" | "skipped";
  reason?: string;
  /** What the drill proved, in words: "content-exact: N tables, X GB hashed" or "counts only (why)". */
  proof?: string;
  /** The top few tables by rows. */
  largestTables: { name: string; rows: number }[];
}

export interface ReportJob {
  id: string;
  db: string;
  state: ReportJobState;
  /** ISO 8601. */
  createdAt: string;
  finishedAt: string | null;
  dumpBytes: number | null;
  storedBytes: number | null;
  drill: ReportDrill | null;
  error: { code: string; message: string } | null;
  /** Each destination's copy, for databases that write several. */
  copies?: { name: string; ok: boolean }[];
}

export interface ReportInput {
  /** "YYYY-MM", a UTC calendar month. */
  month: string;
  generatedAt: string;
  /**
   * Jobs created inside the month are reported. Sealed jobs created before it may be included:
   * the latest one anchors the first RPO gap (see `RpoGap`); everything else outside the month is ignored.
   */
  databases: { db: string; schedule: string | null; jobs: ReportJob[] }[];
}

/** Nulls when there is no data: an empty month must not read as "0 seconds". */
export interface Distribution {
  count: number;
  min: number | null;
  median: number | null;
  /** Nearest-rank: the value at rank ceil(0.95 × n) of the ascending list. */
  p95: number | null;
  max: number | null;
}

export interface TrendPoint {
  /** The job's createdAt. */
  at: string;
  jobId: string;
  restoreSeconds: number;
}

/**
 * The longest time, within the measured window, during which the newest restorable (sealed)
 * backup was older than `seconds`. A backup protects you only once it is sealed (`finishedAt`)
 * and restores the data as of when its job started (`createdAt`, slightly before pg_dump's
 * snapshot, so the gap errs long). Between sealed backups A then B the gap is B.finishedAt − A.createdAt.
 * Gaps are measured only from a backup that exists: never from the month's start.
 */
export interface RpoGap {
  seconds: number;
  from: string;
  to: string;
  /** "previous-sealed": the newest sealed backup created before the month (given in the input). */
  fromKind: "sealed" | "previous-sealed";
  /** "generated-at" when the month was still running when the report was generated. */
  toKind: "sealed" | "month-end" | "generated-at";
}

export interface ReportFailure {
  jobId: string;
  state: "failed" | "drill-failed" | "drill-skipped";
  at: string;
  finishedAt: string | null;
  code: string;
  message: string;
}

export interface JobCounts {
  /** Every job of the month except cancelled ones: a cancellation is an operator's choice, not an outcome. */
  taken: number;
  sealed: number;
  failed: number;
  drillFailed: number;
  drillSkipped: number;
  /** Stored but never drilled (the end state before drills shipped). */
  uploaded: number;
  cancelled: number;
}

export interface LatestSealed {
  jobId: string;
  at: string;
  tables: number;
  rowsVerified: number;
  /** "content-exact: N tables, X GB hashed" or "counts only (why)"; absent in drills recorded before it existed. */
  proof?: string;
  largestTables: { name: string; rows: number }[];
  dumpBytes: number | null;
  storedBytes: number | null;
}

export interface DatabaseReport {
  db: string;
  schedule: string | null;
  counts: JobCounts;
  /** sealed / taken, floored to 0.1 so that 100 means every backup sealed; null when nothing was taken. */
  successPercent: number | null;
  /** Seconds of pg_restore in sealed drills. */
  restoreSeconds: Distribution;
  /**
   * `slopeSecondsPerDay` only from enough data (TREND_MIN_DRILLS sealed drills spread over at least
   * TREND_MIN_SPAN_DAYS days); otherwise null with `enoughData` false: a slope from a few drills in
   * one afternoon is noise that reads like an alarm.
   */
  trend: { points: TrendPoint[]; slopeSecondsPerDay: number | null; enoughData: boolean; minDrills: number; minSpanDays: number };
  latestSealed: LatestSealed | null;
  /** Null until a sealed backup exists: there is no gap to measure before the first one. */
  worstGap: RpoGap | null;
  /** When no sealed backup from before the month was given: the first sealed one, where gap measurement starts. */
  firstSealedAt: string | null;
  /** Failed, drill-failed and drill-skipped jobs in time order: none of them is a proven backup. */
  failures: ReportFailure[];
  /** Per destination, for databases with several: copies stored and copies that failed this month. */
  copies: { destination: string; stored: number; failed: number }[];
}

export interface ReportSummary {
  databases: number;
  taken: number;
  sealed: number;
  failed: number;
  drillFailed: number;
  drillSkipped: number;
  successPercent: number | null;
  databasesWithoutSealed: string[];
  worstGap: { db: string; seconds: number } | null;
}

export interface DrillReport {
  reportVersion: 1;
  month: string;
  /** "November 2026". */
  monthLabel: string;
  /** `end` is exclusive; `measuredUntil` is `end`, or `generatedAt` while the month is running. */
  period: { start: string; end: string; measuredUntil: string; complete: boolean };
  generatedAt: string;
  summary: ReportSummary;
  databases: DatabaseReport[];
}

const MS_PER_SECOND = 1_000;
const MS_PER_DAY = 86_400_000;
/** A restore-time trend needs this many sealed drills… */
export const TREND_MIN_DRILLS = 5;
/** …spread over at least this many days. */
export const TREND_MIN_SPAN_DAYS = 3;
const P95_QUANTILE = 0.95;
/** JSON turns -0 into 0; normalising here keeps the report identical after a round trip. */
function noNegativeZero(n: number): number {
  return n === 0 ? 0 : n;
}

export function distribution(values: readonly number[]): Distribution {
  if (values.length === 0) return { count: 0, min: null, median: null, p95: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mid = Math.floor(n / 2);
  const median = n % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return {
    count: n,
    min: sorted[0],
    median,
    p95: sorted[Math.ceil(P95_QUANTILE * n) - 1],
    max: sorted[n - 1],
  };
}

/** Ordinary least squares slope of y on x; null when it is undefined (fewer than two distinct x). */
export function leastSquaresSlope(points: readonly { x: number; y: number }[]): number | null {
  if (points.length < 2) return null;
  const meanX = points.reduce((s, p) => s + p.x, 0) / points.length;
  const meanY = points.reduce((s, p) => s + p.y, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - meanX) * (p.y - meanY);
    den += (p.x - meanX) ** 2;
  }
  return den === 0 ? null : noNegativeZero(num / den);
}

function parseInstant(iso: string, what: string): number {
  const ms = typeof iso === "string" ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(ms)) throw new PgsealError("BAD_REQUEST", `${what} is not an ISO 8601 time: ${JSON.stringify(String(iso)).slice(0, 60)}`);
  return ms;
}

interface TimedJob {
  job: ReportJob;
  createdMs: number;
  finishedMs: number | null;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Creation time, then id: the same jobs in any input order give the same report. */
function byTime(a: TimedJob, b: TimedJob): number {
  return a.createdMs - b.createdMs || (a.job.id < b.job.id ? -1 : a.job.id > b.job.id ? 1 : 0);
}

function percent(part: number, whole: number): number | null {
  return whole === 0 ? null : Math.floor((part / whole) * 1000) / 10;
}

function worstGap(sealed: readonly TimedJob[], anchorMs: number | null, untilMs: number, complete: boolean): RpoGap | null {
  // Walk in order of becoming restorable; a backup sealed after the window closed protected nothing in it.
  const available = sealed
    .map((s) => ({ s, availableMs: Math.max(s.finishedMs ?? s.createdMs, s.createdMs) }))
    .filter((a) => a.availableMs <= untilMs)
    .sort((a, b) => a.availableMs - b.availableMs || byTime(a.s, b.s));
  let pointMs: number | null = anchorMs;
  let fromKind: RpoGap["fromKind"] = "previous-sealed";
  const gaps: RpoGap[] = [];
  const gapTo = (from: number, toMs: number, toKind: RpoGap["toKind"]): RpoGap => ({
    seconds: (toMs - from) / MS_PER_SECOND,
    from: iso(from),
    to: iso(toMs),
    fromKind,
    toKind,
  });
  for (const { s, availableMs } of available) {
    if (pointMs !== null) gaps.push(gapTo(pointMs, availableMs, "sealed"));
    // Out-of-order finishes: a backup older than the one already restorable does not move the recovery point back.
    if (pointMs === null || s.createdMs >= pointMs) {
      pointMs = s.createdMs;
      fromKind = "sealed";
    }
  }
  if (pointMs === null) return null;
  gaps.push(gapTo(pointMs, untilMs, complete ? "month-end" : "generated-at"));
  // The first of equal gaps wins, so ties resolve the same way every time.
  return gaps.reduce((worst, g) => (g.seconds > worst.seconds ? g : worst));
}

function failureOf(t: TimedJob): ReportFailure | null {
  const { job } = t;
  if (job.state !== "failed" && job.state !== "drill-failed" && job.state !== "drill-skipped") return null;
  // A job record without an error still has to say something; the drill's own reason is the next best source.
  const fallbackCode = job.state === "failed" ? "INTERNAL" : job.state === "drill-failed" ? "DRILL_FAILED" : "DRILL_SKIPPED";
  return {
    jobId: job.id,
    state: job.state,
    at: iso(t.createdMs),
    finishedAt: t.finishedMs === null ? null : iso(t.finishedMs),
    code: job.error?.code ?? fallbackCode,
    message: job.error?.message ?? job.drill?.reason ?? "no error was recorded",
  };
}

function buildDatabase(entry: ReportInput["databases"][number], startMs: number, endMs: number, untilMs: number, complete: boolean): DatabaseReport {
  const timed: TimedJob[] = entry.jobs.map((job) => ({
    job,
    createdMs: parseInstant(job.createdAt, `job ${job.id} createdAt`),
    finishedMs: job.finishedAt === null ? null : parseInstant(job.finishedAt, `job ${job.id} finishedAt`),
  }));
  const inMonth = timed.filter((t) => t.createdMs >= startMs && t.createdMs < endMs).sort(byTime);
  const before = timed.filter((t) => t.createdMs < startMs && t.job.state === "sealed").sort(byTime);
  const anchorMs = before.length > 0 ? before[before.length - 1].createdMs : null;

  const count = (state: ReportJobState) => inMonth.filter((t) => t.job.state === state).length;
  const cancelled = count("cancelled");
  const counts: JobCounts = {
    taken: inMonth.length - cancelled,
    sealed: count("sealed"),
    failed: count("failed"),
    drillFailed: count("drill-failed"),
    drillSkipped: count("drill-skipped"),
    uploaded: count("uploaded"),
    cancelled,
  };

  const sealed = inMonth.filter((t) => t.job.state === "sealed");
  // A sealed record without drill figures cannot contribute a restore time; it still counts as sealed and closes RPO gaps.
  const drilled = sealed.filter((t): t is TimedJob & { job: { drill: ReportDrill } } => t.job.drill !== null);
  const points: TrendPoint[] = drilled.map((t) => ({ at: iso(t.createdMs), jobId: t.job.id, restoreSeconds: t.job.drill.restoreSeconds }));
  const spanDays = drilled.length > 0 ? (drilled[drilled.length - 1].createdMs - drilled[0].createdMs) / MS_PER_DAY : 0;
  const enoughData = drilled.length >= TREND_MIN_DRILLS && spanDays >= TREND_MIN_SPAN_DAYS;
  const slope = enoughData ? leastSquaresSlope(drilled.map((t) => ({ x: (t.createdMs - startMs) / MS_PER_DAY, y: t.job.drill.restoreSeconds }))) : null;
  const firstSealed = sealed.length > 0 ? Math.min(...sealed.map((t) => t.createdMs)) : null;

  const last = drilled.length > 0 ? drilled[drilled.length - 1] : null;
  const latestSealed: LatestSealed | null = last && {
    jobId: last.job.id,
    at: iso(last.createdMs),
    tables: last.job.drill.tables,
    rowsVerified: last.job.drill.rows,
    ...(last.job.drill.proof ? { proof: last.job.drill.proof } : {}),
    largestTables: [...last.job.drill.largestTables].sort((a, b) => b.rows - a.rows).map((t) => ({ name: t.name, rows: t.rows })),
    dumpBytes: last.job.dumpBytes,
    storedBytes: last.job.storedBytes,
  };

  return {
    db: entry.db,
    schedule: entry.schedule,
    counts,
    successPercent: percent(counts.sealed, counts.taken),
    restoreSeconds: distribution(points.map((p) => p.restoreSeconds)),
    trend: { points, slopeSecondsPerDay: slope === null ? null : noNegativeZero(Math.round(slope * 1000) / 1000), enoughData, minDrills: TREND_MIN_DRILLS, minSpanDays: TREND_MIN_SPAN_DAYS },
    latestSealed,
    worstGap: worstGap(sealed, anchorMs, untilMs, complete),
    firstSealedAt: anchorMs === null && firstSealed !== null ? iso(firstSealed) : null,
    failures: inMonth.map(failureOf).filter((f): f is ReportFailure => f !== null),
    copies: copyCounts(inMonth.map((t) => t.job)),
  };
}

function copyCounts(jobs: ReportJob[]): DatabaseReport["copies"] {
  const by = new Map<string, { destination: string; stored: number; failed: number }>();
  for (const j of jobs) {
    for (const c of j.copies ?? []) {
      const e = by.get(c.name) ?? { destination: c.name, stored: 0, failed: 0 };
      if (c.ok) e.stored++;
      else e.failed++;
      by.set(c.name, e);
    }
  }
  return by.size > 1 ? [...by.values()] : [];
}

export function buildReport(input: ReportInput): DrillReport {
  const range = monthRange(input.month);
  const startMs = Date.parse(range.start);
  const endMs = Date.parse(range.end);
  const generatedMs = parseInstant(input.generatedAt, "generatedAt");
  if (generatedMs < startMs) {
    throw new PgsealError("BAD_REQUEST", `a report for ${input.month} cannot be generated before the month begins`);
  }
  const complete = generatedMs >= endMs;
  const untilMs = complete ? endMs : generatedMs;

  const databases = input.databases.map((d) => buildDatabase(d, startMs, endMs, untilMs, complete));
  const sum = (pick: (c: JobCounts) => number) => databases.reduce((s, d) => s + pick(d.counts), 0);
  const taken = sum((c) => c.taken);
  const sealed = sum((c) => c.sealed);
  let worst: ReportSummary["worstGap"] = null;
  for (const d of databases) {
    if (d.worstGap && (worst === null || d.worstGap.seconds > worst.seconds)) worst = { db: d.db, seconds: d.worstGap.seconds };
  }

  return {
    reportVersion: 1,
    month: input.month,
    monthLabel: monthLabel(input.month),
    period: { start: range.start, end: range.end, measuredUntil: iso(untilMs), complete },
    generatedAt: iso(generatedMs),
    summary: {
      databases: databases.length,
      taken,
      sealed,
      failed: sum((c) => c.failed),
      drillFailed: sum((c) => c.drillFailed),
      drillSkipped: sum((c) => c.drillSkipped),
      successPercent: percent(sealed, taken),
      databasesWithoutSealed: databases.filter((d) => d.counts.sealed === 0).map((d) => d.db),
      worstGap: worst,
    },
    databases,
  };
}
