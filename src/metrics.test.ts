// The OpenMetrics exposition: valid by a strict parser, values equal to the input, unknowns omitted, labels escaped.
import { describe, expect, it } from "vitest";
import { parseOpenMetrics } from "../test/harness/openmetrics-parse.ts";
import { renderMetrics, type DatabaseMetrics } from "./metrics.ts";

const NOW_MS = Date.parse("2026-11-22T12:00:00Z");
const sealedDb: DatabaseMetrics = {
  db: "shop",
  lastSealed: { finishedAtMs: NOW_MS - 3_600_000, durationSeconds: 12.5, dumpBytes: 1000, storedBytes: 400, restoreSeconds: 3.25, tables: 12, rows: 34567 },
  lastBackup: { finishedAtMs: NOW_MS - 60_000, durationSeconds: 9, dumpBytes: 1100, storedBytes: 420, state: "drill-failed" },
  jobsByState: { sealed: 5, "drill-failed": 1, failed: 2 },
  drillFailures: 1,
  activePhase: "dumping",
};
const value = (fams: ReturnType<typeof parseOpenMetrics>, family: string, labels: Record<string, string>) =>
  fams.get(family)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe("renderMetrics", () => {
  it("writes a valid exposition whose values are the input's", () => {
    const fams = parseOpenMetrics(renderMetrics({ now: NOW_MS, databases: [sealedDb] }));
    expect(value(fams, "pgseal_databases", {})).toBe(1);
    expect(value(fams, "pgseal_last_sealed_backup_timestamp_seconds", { db: "shop" })).toBe((NOW_MS - 3_600_000) / 1000);
    expect(value(fams, "pgseal_last_sealed_backup_age_seconds", { db: "shop" })).toBe(3600);
    expect(value(fams, "pgseal_last_backup_duration_seconds", { db: "shop" })).toBe(9);
    expect(value(fams, "pgseal_last_backup_stored_bytes", { db: "shop" })).toBe(420);
    expect(value(fams, "pgseal_last_restore_seconds", { db: "shop" })).toBe(3.25);
    expect(value(fams, "pgseal_last_drill_rows", { db: "shop" })).toBe(34567);
    expect(value(fams, "pgseal_jobs", { db: "shop", state: "failed" })).toBe(2);
    expect(value(fams, "pgseal_drill_failures", { db: "shop" })).toBe(1);
    expect(value(fams, "pgseal_active_job_phase", { db: "shop", pgseal_active_job_phase: "dumping" })).toBe(1);
    expect(value(fams, "pgseal_active_job_phase", { db: "shop", pgseal_active_job_phase: "idle" })).toBe(0);
    expect(fams.get("pgseal_last_restore_seconds")?.unit).toBe("seconds");
    expect(fams.get("pgseal_jobs")?.type).toBe("counter");
  });

  it("omits what is not known instead of writing 0, and an empty deployment is still valid", () => {
    const fresh: DatabaseMetrics = { db: "new", lastSealed: null, lastBackup: null, jobsByState: {}, drillFailures: 0, activePhase: null };
    const fams = parseOpenMetrics(renderMetrics({ now: NOW_MS, databases: [fresh] }));
    expect(fams.get("pgseal_last_sealed_backup_age_seconds")?.samples).toEqual([]);
    expect(value(fams, "pgseal_active_job_phase", { db: "new", pgseal_active_job_phase: "idle" })).toBe(1);
    expect(parseOpenMetrics(renderMetrics({ now: NOW_MS, databases: [] })).get("pgseal_databases")?.samples[0].value).toBe(0);
  });

  it("escapes hostile label values so they parse back unchanged", () => {
    const name = 'a"b\\c\nd';
    const fams = parseOpenMetrics(renderMetrics({ now: NOW_MS, databases: [{ ...sealedDb, db: name }] }));
    expect(value(fams, "pgseal_drill_failures", { db: name })).toBe(1);
  });

  it("is refused by the parser when broken, so the checks above mean something", () => {
    const good = renderMetrics({ now: NOW_MS, databases: [sealedDb] });
    expect(() => parseOpenMetrics(good.replace("# EOF\n", ""))).toThrow(/EOF/);
    expect(() => parseOpenMetrics(good.replace("pgseal_jobs_total", "pgseal_jobs"))).toThrow(/suffix/);
    expect(() => parseOpenMetrics(good.replace("# UNIT pgseal_last_restore_seconds seconds", "# UNIT pgseal_last_restore_seconds bytes"))).toThrow(/unit/);
    expect(() => parseOpenMetrics(good.replace('db="shop"', 'db="sh\nop"'))).toThrow();
  });
});
