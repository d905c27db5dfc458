// The Restore Drill Report: month ranges, statistics, achieved RPO, failure listing, JSON stability and the escaped, printable HTML.
import { describe, expect, it } from "vitest";
import { isPgsealError } from "../shared/errors.ts";
import { renderReportHtml } from "./render-html.ts";
import { buildReport, distribution, leastSquaresSlope, monthRange, type ReportInput, type ReportJob } from "./report.ts";

const HOUR_S = 3_600;
const DAY_S = 86_400;

let seq = 0;
function job(state: ReportJob["state"], createdAt: string, over: Partial<ReportJob> & { restoreSeconds?: number; finishedAfterS?: number } = {}): ReportJob {
  const { restoreSeconds, finishedAfterS = HOUR_S, ...rest } = over;
  const finishedAt = new Date(Date.parse(createdAt) + finishedAfterS * 1000).toISOString();
  const drill =
    state === "sealed"
      ? {
          restoreSeconds: restoreSeconds ?? 60,
          countSeconds: 2,
          totalSeconds: (restoreSeconds ?? 60) + 5,
          tables: 12,
          rows: 34_567,
          verdict: "pass" as const,
          largestTables: [
            { name: "events", rows: 30_000 },
            { name: "users", rows: 4_000 },
          ],
        }
      : null;
  return { id: `j${++seq}`, db: "app", state, createdAt, finishedAt, dumpBytes: 1_000_000, storedBytes: 400_000, drill, error: null, ...rest };
}

function input(jobs: ReportJob[], over: Partial<ReportInput> = {}): ReportInput {
  return { month: "2026-11", generatedAt: "2026-12-01T06:00:00Z", databases: [{ db: "app", schedule: "0 3 * * *", jobs }], ...over };
}

function badRequest(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isPgsealError(e, "BAD_REQUEST")) return e.message;
    throw e;
  }
  throw new Error("expected a BAD_REQUEST PgsealError");
}

describe("monthRange", () => {
  it("spans a UTC calendar month with an exclusive end, rolling December into the next year", () => {
    expect(monthRange("2026-11")).toEqual({ start: "2026-11-01T00:00:00.000Z", end: "2026-12-01T00:00:00.000Z" });
    expect(monthRange("2026-12")).toEqual({ start: "2026-12-01T00:00:00.000Z", end: "2027-01-01T00:00:00.000Z" });
  });

  it("gives February 29 days in leap years and 28 otherwise", () => {
    const days = (m: string) => {
      const r = monthRange(m);
      return (Date.parse(r.end) - Date.parse(r.start)) / (DAY_S * 1000);
    };
    expect(monthRange("2028-02").end).toBe("2028-03-01T00:00:00.000Z");
    expect(days("2028-02")).toBe(29);
    expect(days("2000-02")).toBe(29);
    expect(days("2026-02")).toBe(28);
    expect(days("2100-02")).toBe(28);
  });

  it("rejects malformed months with BAD_REQUEST", () => {
    for (const m of ["2026-13", "26-01", "2026-1", "2026-00", "", "2026-11-01", " 2026-11", "2026/11", "1969-12"]) {
      expect(badRequest(() => monthRange(m))).toMatch(/YYYY-MM/);
    }
    expect(badRequest(() => buildReport(input([], { month: "2026-13" })))).toMatch(/YYYY-MM/);
  });
});

describe("statistics", () => {
  it("gives nulls for no data and the one value for a single element", () => {
    expect(distribution([])).toEqual({ count: 0, min: null, median: null, p95: null, max: null });
    expect(distribution([7])).toEqual({ count: 1, min: 7, median: 7, p95: 7, max: 7 });
  });

  it("takes the middle value of an odd count and the mean of the two middle values of an even count", () => {
    expect(distribution([5, 1, 3])).toEqual({ count: 3, min: 1, median: 3, p95: 5, max: 5 });
    expect(distribution([4, 1, 3, 2])).toEqual({ count: 4, min: 1, median: 2.5, p95: 4, max: 4 });
  });

  it("defines p95 by nearest rank: the value at rank ceil(0.95 n)", () => {
    const upTo = (n: number) => Array.from({ length: n }, (_, i) => n - i); // descending input: sorting is the module's job
    expect(distribution(upTo(20)).p95).toBe(19); // ceil(19) = 19
    expect(distribution(upTo(21)).p95).toBe(20); // ceil(19.95) = 20
    expect(distribution(upTo(21)).median).toBe(11);
    expect(distribution(upTo(100)).p95).toBe(95);
  });

  it("fits a least-squares slope and has none for fewer than two distinct x", () => {
    expect(
      leastSquaresSlope([
        { x: 0, y: 10 },
        { x: 1, y: 12 },
        { x: 3, y: 16 },
      ]),
    ).toBe(2);
    expect(
      leastSquaresSlope([
        { x: 0, y: 5 },
        { x: 2, y: 5 },
      ]),
    ).toBe(0);
    expect(leastSquaresSlope([{ x: 1, y: 5 }])).toBeNull();
    expect(
      leastSquaresSlope([
        { x: 1, y: 5 },
        { x: 1, y: 9 },
      ]),
    ).toBeNull();
  });

  it("reports restore seconds over sealed drills only, with the trend in time order", () => {
    const jobs = [
      job("sealed", "2026-11-04T00:00:00Z", { restoreSeconds: 16 }),
      job("sealed", "2026-11-03T00:00:00Z", { restoreSeconds: 14 }),
      job("sealed", "2026-11-05T00:00:00Z", { restoreSeconds: 18 }),
      job("sealed", "2026-11-01T00:00:00Z", { restoreSeconds: 10 }),
      job("drill-failed", "2026-11-02T12:00:00Z", { drill: { restoreSeconds: 999, countSeconds: 1, totalSeconds: 1000, tables: 1, rows: 1, verdict: "fail", largestTables: [] } }),
      job("sealed", "2026-11-02T00:00:00Z", { restoreSeconds: 12 }),
    ];
    const db = buildReport(input(jobs)).databases[0];
    expect(db.restoreSeconds).toEqual({ count: 5, min: 10, median: 14, p95: 18, max: 18 });
    expect(db.trend.points.map((p) => [p.at, p.restoreSeconds])).toEqual([
      ["2026-11-01T00:00:00.000Z", 10],
      ["2026-11-02T00:00:00.000Z", 12],
      ["2026-11-03T00:00:00.000Z", 14],
      ["2026-11-04T00:00:00.000Z", 16],
      ["2026-11-05T00:00:00.000Z", 18],
    ]);
    expect(db.trend).toMatchObject({ slopeSecondsPerDay: 2, enoughData: true });
    expect(db.latestSealed).toMatchObject({
      at: "2026-11-05T00:00:00.000Z",
      tables: 12,
      rowsVerified: 34_567,
      largestTables: [
        { name: "events", rows: 30_000 },
        { name: "users", rows: 4_000 },
      ],
    });
  });

  it("has null statistics and no latest drill for a month without sealed backups", () => {
    const db = buildReport(input([job("failed", "2026-11-03T00:00:00Z")])).databases[0];
    expect(db.restoreSeconds).toEqual({ count: 0, min: null, median: null, p95: null, max: null });
    expect(db.trend).toEqual({ points: [], slopeSecondsPerDay: null, enoughData: false, minDrills: 5, minSpanDays: 3 });
    expect(db.latestSealed).toBeNull();
  });
});

describe("day one: a handful of backups in a minute", () => {
  // The case: 4 backups within a minute on the 29th read "worst gap 28 d 18 h" and "+4185.78 s/day".
  const jobs = [0, 15, 30, 45].map((s, i) => job("sealed", `2026-11-29T19:5${i}:${String(s).padStart(2, "0")}Z`, { restoreSeconds: [0.9, 4.2, 1.3, 2.2][i], finishedAfterS: 10 }));
  const r = buildReport(input(jobs, { generatedAt: "2026-11-29T20:00:00Z" }));
  const db = r.databases[0];

  it("shows no trend from too little data, and says how much it needs", () => {
    expect(db.trend).toMatchObject({ slopeSecondsPerDay: null, enoughData: false, minDrills: 5, minSpanDays: 3 });
    const html = renderReportHtml(r);
    expect(html).toContain("not enough data yet (a trend needs 5 sealed drills over at least 3 days; 4 so far)");
    expect(html).not.toMatch(/s\/day/);
    // Five drills, but within one day: still not a trend.
    const sameDay = buildReport(input([...jobs, job("sealed", "2026-11-29T19:58:00Z", { finishedAfterS: 10 })], { generatedAt: "2026-11-29T20:00:00Z" }));
    expect(sameDay.databases[0].trend.enoughData).toBe(false);
  });

  it("measures the worst gap between the backups that exist and to now, never from the month start, and says so in words", () => {
    // The longest: from the last backup (19:53:45) to the report time (20:00).
    expect(db.worstGap).toEqual({ seconds: 375, from: "2026-11-29T19:53:45.000Z", to: "2026-11-29T20:00:00.000Z", fromKind: "sealed", toKind: "generated-at" });
    expect(db.firstSealedAt).toBe("2026-11-29T19:50:00.000Z");
    const html = renderReportHtml(r);
    expect(html).toContain("measured from the first sealed backup, 2026-11-29 19:50 UTC; nothing before it is counted");
    expect(html).toContain("(now (report time))");
    expect(html).not.toMatch(/\b28 d\b/);
  });

  it("says plainly when there is no sealed backup yet", () => {
    const none = buildReport(input([job("failed", "2026-11-29T19:50:00Z")], { generatedAt: "2026-11-29T20:00:00Z" }));
    expect(none.databases[0].worstGap).toBeNull();
    expect(none.summary.worstGap).toBeNull();
    expect(renderReportHtml(none)).toContain("No sealed backup yet: nothing to measure.");
  });
});

describe("achieved RPO", () => {
  it("measures from a backup's start to the next one's seal, failures closing nothing, up to the month end", () => {
    const jobs = [
      job("sealed", "2026-11-02T00:00:00Z"), // sealed 01:00
      job("sealed", "2026-11-10T00:00:00Z", { finishedAfterS: HOUR_S / 2 }),
      job("failed", "2026-11-15T00:00:00Z"),
      job("drill-failed", "2026-11-16T00:00:00Z"),
      job("sealed", "2026-11-20T00:00:00Z"),
    ];
    // Gaps: 8 d 0.5 h, 10 d 1 h, then 11 d to the month end (nothing before the first sealed backup).
    expect(buildReport(input(jobs)).databases[0].worstGap).toEqual({
      seconds: 11 * DAY_S,
      from: "2026-11-20T00:00:00.000Z",
      to: "2026-12-01T00:00:00.000Z",
      fromKind: "sealed",
      toKind: "month-end",
    });
    const middle = buildReport(input(jobs.slice(0, 4))).databases[0].worstGap;
    expect(middle).toMatchObject({ seconds: 21 * DAY_S, from: "2026-11-10T00:00:00.000Z", toKind: "month-end" });
  });

  it("finds the worst gap between two sealed backups", () => {
    const jobs = [job("sealed", "2026-11-01T00:00:00Z"), job("sealed", "2026-11-20T00:00:00Z"), job("sealed", "2026-11-29T00:00:00Z")];
    expect(buildReport(input(jobs)).databases[0].worstGap).toEqual({
      seconds: 19 * DAY_S + HOUR_S,
      from: "2026-11-01T00:00:00.000Z",
      to: "2026-11-20T01:00:00.000Z",
      fromKind: "sealed",
      toKind: "sealed",
    });
  });

  it("starts at the previous month's last sealed backup when given, without counting it", () => {
    const jobs = [job("sealed", "2026-10-25T00:00:00Z"), job("failed", "2026-10-30T00:00:00Z"), job("sealed", "2026-11-14T00:00:00Z"), job("sealed", "2026-11-25T00:00:00Z")];
    const db = buildReport(input(jobs)).databases[0];
    expect(db.worstGap).toEqual({ seconds: 20 * DAY_S + HOUR_S, from: "2026-10-25T00:00:00.000Z", to: "2026-11-14T01:00:00.000Z", fromKind: "previous-sealed", toKind: "sealed" });
    expect(db.counts).toMatchObject({ taken: 2, sealed: 2, failed: 0 });
  });

  it("starts at the first sealed backup, not the month start, when no earlier sealed backup is given", () => {
    const db = buildReport(input([job("sealed", "2026-11-20T00:00:00Z"), job("sealed", "2026-11-28T00:00:00Z")])).databases[0];
    expect(db.worstGap).toEqual({ seconds: 8 * DAY_S + HOUR_S, from: "2026-11-20T00:00:00.000Z", to: "2026-11-28T01:00:00.000Z", fromKind: "sealed", toKind: "sealed" });
    expect(db.firstSealedAt).toBe("2026-11-20T00:00:00.000Z");
  });

  it("has no gap at all when nothing was sealed (there is nothing to measure from)", () => {
    const r = buildReport(input([job("failed", "2026-11-03T00:00:00Z")]));
    expect(r.databases[0].worstGap).toBeNull();
    expect(r.databases[0].firstSealedAt).toBeNull();
    const feb = buildReport(input([], { month: "2028-02", generatedAt: "2028-03-02T00:00:00Z" }));
    expect(feb.databases[0].worstGap).toBeNull();
    expect(feb.summary.databasesWithoutSealed).toEqual(["app"]);
  });

  it("ends at the report time in a month still running", () => {
    const r = buildReport(input([job("sealed", "2026-11-01T00:00:00Z"), job("sealed", "2026-11-05T00:00:00Z")], { generatedAt: "2026-11-15T12:00:00Z" }));
    expect(r.period).toEqual({ start: "2026-11-01T00:00:00.000Z", end: "2026-12-01T00:00:00.000Z", measuredUntil: "2026-11-15T12:00:00.000Z", complete: false });
    expect(r.databases[0].worstGap).toEqual({ seconds: 10 * DAY_S + 12 * HOUR_S, from: "2026-11-05T00:00:00.000Z", to: "2026-11-15T12:00:00.000Z", fromKind: "sealed", toKind: "generated-at" });
  });

  it("does not let a backup sealed after the month ended close the month's last gap", () => {
    const jobs = [job("sealed", "2026-11-10T00:00:00Z"), job("sealed", "2026-11-30T23:00:00Z", { finishedAfterS: 2 * HOUR_S })];
    const db = buildReport(input(jobs)).databases[0];
    expect(db.counts.sealed).toBe(2);
    expect(db.worstGap).toMatchObject({ seconds: 21 * DAY_S, from: "2026-11-10T00:00:00.000Z", toKind: "month-end" });
  });

  it("refuses a report generated before its month begins", () => {
    expect(badRequest(() => buildReport(input([], { generatedAt: "2026-10-31T23:59:59Z" })))).toMatch(/before the month begins/);
    expect(badRequest(() => buildReport(input([], { generatedAt: "yesterday" })))).toMatch(/generatedAt/);
  });
});

describe("counts and failures", () => {
  const jobs = [
    job("sealed", "2026-11-01T03:00:00Z"),
    job("failed", "2026-11-02T03:00:00Z", { error: { code: "PG_UNREACHABLE", message: "could not connect to db.internal:5432" } }),
    job("drill-failed", "2026-11-03T03:00:00Z", { error: { code: "DRILL_ROW_MISMATCH", message: "public.events: expected 30000 rows, restored 29999" } }),
    job("drill-skipped", "2026-11-04T03:00:00Z", {
      drill: { restoreSeconds: 0, countSeconds: 0, totalSeconds: 0, tables: 0, rows: 0, verdict: "skipped", reason: "not enough disk for the drill", largestTables: [] },
    }),
    job("cancelled", "2026-11-05T03:00:00Z"),
    job("uploaded", "2026-11-06T03:00:00Z"),
    job("sealed", "2026-12-01T03:00:00Z"), // next month: ignored
  ];

  it("counts every job except cancelled ones as taken, and success as sealed over taken, floored", () => {
    const r = buildReport(input(jobs));
    expect(r.databases[0].counts).toEqual({ taken: 5, sealed: 1, failed: 1, drillFailed: 1, drillSkipped: 1, uploaded: 1, cancelled: 1 });
    expect(r.databases[0].successPercent).toBe(20);
    const twoOfThree = buildReport(input([job("sealed", "2026-11-01T00:00:00Z"), job("sealed", "2026-11-02T00:00:00Z"), job("failed", "2026-11-03T00:00:00Z")]));
    expect(twoOfThree.databases[0].successPercent).toBe(66.6);
    expect(buildReport(input([job("cancelled", "2026-11-01T00:00:00Z")])).databases[0].successPercent).toBeNull();
  });

  it("lists failed, drill-failed and drill-skipped jobs with code, message, time and job id", () => {
    const failures = buildReport(input(jobs)).databases[0].failures;
    expect(failures).toEqual([
      { jobId: jobs[1].id, state: "failed", at: "2026-11-02T03:00:00.000Z", finishedAt: "2026-11-02T04:00:00.000Z", code: "PG_UNREACHABLE", message: "could not connect to db.internal:5432" },
      {
        jobId: jobs[2].id,
        state: "drill-failed",
        at: "2026-11-03T03:00:00.000Z",
        finishedAt: "2026-11-03T04:00:00.000Z",
        code: "DRILL_ROW_MISMATCH",
        message: "public.events: expected 30000 rows, restored 29999",
      },
      { jobId: jobs[3].id, state: "drill-skipped", at: "2026-11-04T03:00:00.000Z", finishedAt: "2026-11-04T04:00:00.000Z", code: "DRILL_SKIPPED", message: "not enough disk for the drill" },
    ]);
  });

  it("sums the summary over databases", () => {
    const r = buildReport({
      month: "2026-11",
      generatedAt: "2026-12-01T06:00:00Z",
      databases: [
        { db: "app", schedule: "0 3 * * *", jobs },
        { db: "billing", schedule: null, jobs: [job("sealed", "2026-11-01T00:00:00Z"), job("sealed", "2026-11-15T00:00:00Z")] },
      ],
    });
    expect(r.summary).toEqual({
      databases: 2,
      taken: 7,
      sealed: 3,
      failed: 1,
      drillFailed: 1,
      drillSkipped: 1,
      successPercent: 42.8,
      databasesWithoutSealed: [],
      worstGap: { db: "app", seconds: 30 * DAY_S - 3 * HOUR_S },
    });
    expect(r.monthLabel).toBe("November 2026");
  });

  it("is stable JSON: it round-trips unchanged and does not depend on input order", () => {
    const r = buildReport(input(jobs));
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(JSON.stringify(buildReport(input([...jobs].reverse())))).toBe(JSON.stringify(r));
    const flat = buildReport(input([1, 3, 5, 7, 9].map((d) => job("sealed", `2026-11-0${d}T00:00:00Z`, { restoreSeconds: 5 }))));
    expect(Object.is(flat.databases[0].trend.slopeSecondsPerDay, 0)).toBe(true);
    expect(JSON.parse(JSON.stringify(flat))).toEqual(flat);
  });
});

describe("renderReportHtml", () => {
  const svgs = (doc: string) => doc.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
  const circles = (svg: string) => (svg.match(/<circle /g) ?? []).length;

  const report = buildReport({
    month: "2026-11",
    generatedAt: "2026-12-01T06:00:00Z",
    databases: [
      {
        db: "app",
        schedule: "0 3 * * *",
        jobs: [
          job("sealed", "2026-11-01T03:00:00Z", { restoreSeconds: 40 }),
          job("failed", "2026-11-02T03:00:00Z"),
          job("sealed", "2026-11-03T03:00:00Z", { restoreSeconds: 44 }),
          job("sealed", "2026-11-28T03:00:00Z", { restoreSeconds: 90 }),
        ],
      },
      { db: "billing", schedule: null, jobs: [job("drill-failed", "2026-11-05T03:00:00Z")] },
      { db: "audit", schedule: "0 4 * * 0", jobs: [job("sealed", "2026-11-08T04:00:00Z", { restoreSeconds: 3.2 })] },
    ],
  });
  const doc = renderReportHtml(report);

  it("is a complete standalone document titled with the month", () => {
    expect(doc.startsWith("<!doctype html>")).toBe(true);
    expect(doc).toContain("<title>Restore Drill Report — November 2026</title>");
    expect(doc).toContain("<h1>Restore Drill Report — November 2026</h1>");
    expect(doc).toContain("Generated 2026-12-01 06:00 UTC");
    expect(doc.trimEnd().endsWith("</html>")).toBe(true);
    for (const external of ["<script", "<link", "src=", "url(", "@import", "http:", "https:"]) expect(doc).not.toContain(external);
  });

  it("prints on A4 without breaking a database section or using dark backgrounds", () => {
    expect(doc).toMatch(/@page \{ size: A4; margin: [^}]+\}/);
    expect(doc).toMatch(/@media print \{[\s\S]*section\.db[^{]*\{ break-inside: avoid; page-break-inside: avoid; \}/);
    const backgrounds = [...doc.matchAll(/background: (#[0-9a-f]{3,6})/gi)].map((m) => m[1].toLowerCase());
    expect(backgrounds.length).toBeGreaterThan(0);
    for (const b of backgrounds) expect(["#fff", "#ffffff", "#f2f2f2"]).toContain(b);
  });

  it("draws one accessible chart per database with one point per sealed drill", () => {
    const charts = svgs(doc);
    expect(charts).toHaveLength(3);
    expect(charts.map(circles)).toEqual([3, 0, 1]);
    for (const svg of charts) {
      expect(svg).toMatch(/^<svg role="img" aria-label="Restore time of [^"]+"/);
      expect(svg).toMatch(/<title>Restore time of /);
      expect(svg).toContain("Day of month (UTC)");
      expect(svg).toContain("Restore seconds");
    }
    expect(charts[0]).toContain("3 sealed drills; min 40 s, median 44 s, p95 1 min 30 s, max 1 min 30 s");
    expect(charts[1]).toContain("No sealed drills this month");
  });

  it("says what the latest sealed drill proved: content-exact with the amount hashed, or counts only", () => {
    const proven = (proof?: string) => {
      const sealed = job("sealed", "2026-11-02T03:00:00Z");
      return buildReport(input([{ ...sealed, drill: { ...sealed.drill!, ...(proof ? { proof } : {}) } }]));
    };
    const exact = proven("content-exact: 12 tables, 1.40 GB hashed");
    expect(exact.databases[0].latestSealed?.proof).toBe("content-exact: 12 tables, 1.40 GB hashed");
    expect(renderReportHtml(exact)).toContain('What the drill proved</th><td class="msg">content-exact: 12 tables, 1.40 GB hashed');
    expect(renderReportHtml(proven())).not.toContain("What the drill proved");
  });

  it("lists failures with their codes, and claims every backup sealed only when that is true", () => {
    expect(doc).toContain("<code>INTERNAL</code>");
    expect(doc).toContain("<code>DRILL_FAILED</code>");
    expect(doc).toContain("None: every backup that ran this month was sealed.");
    const empty = renderReportHtml(buildReport(input([job("uploaded", "2026-11-02T00:00:00Z")])));
    expect(empty).not.toContain("every backup that ran this month was sealed");
    expect(empty).toContain("1 of 1 backups not sealed.");
  });

  it("escapes every interpolated name and message", () => {
    const hostile = buildReport({
      month: "2026-11",
      generatedAt: "2026-12-01T06:00:00Z",
      databases: [
        {
          db: "<script>alert(1)</script>",
          schedule: `"&'`,
          jobs: [
            job("sealed", "2026-11-01T00:00:00Z", {
              id: `j"&'<b>`,
              drill: {
                restoreSeconds: 5,
                countSeconds: 1,
                totalSeconds: 6,
                tables: 1,
                rows: 2,
                verdict: "pass",
                largestTables: [
                  { name: `"&'`, rows: 2 },
                  { name: "</td><script>x</script>", rows: 1 },
                ],
              },
            }),
            job("failed", "2026-11-02T00:00:00Z", { error: { code: "<i>CODE</i>", message: `<img src=x onerror=alert(1)> "quoted" & 'single'` } }),
          ],
        },
      ],
    });
    const out = renderReportHtml(hostile);
    for (const raw of ["<script", "<img", "<b>", "<i>", "</td><script"]) expect(out).not.toContain(raw);
    expect(out).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(out).toContain("&quot;&amp;&#39;");
    expect(out).toContain("&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; &amp; &#39;single&#39;");
    expect(out).toContain("&lt;i&gt;CODE&lt;/i&gt;");
    expect(out).toContain("j&quot;&amp;&#39;&lt;b&gt;");
    // The chart's aria-label is an attribute: a quote in the name must not end it.
    expect(svgs(out)[0]).toMatch(/^<svg role="img" aria-label="Restore time of &lt;script&gt;alert\(1\)&lt;\/script&gt;, November 2026: 1 sealed drill;/);
  });
});
