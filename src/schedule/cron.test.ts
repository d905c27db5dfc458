// Cron parsing, next-run arithmetic in UTC, and the per-database jitter of fire times.
import { describe, expect, it } from "vitest";
import { isPgsealError } from "../shared/errors.ts";
import { nextRun, parseCron } from "./cron.ts";
import { JITTER_MAX_MS, jitterMs, nextFireAt } from "./fire-time.ts";

const at = (iso: string) => new Date(iso);
const next = (expr: string, after: string) => nextRun(expr, at(after)).toISOString();

function cronError(expr: string): string {
  try {
    parseCron(expr);
  } catch (e) {
    if (isPgsealError(e, "CONFIG_INVALID")) return e.message;
    throw e;
  }
  throw new Error(`'${expr}' parsed, but it should not`);
}

describe("nextRun", () => {
  it("steps every 15 minutes and is strictly after the given time", () => {
    expect(next("*/15 * * * *", "2026-11-22T10:07:30Z")).toBe("2026-11-22T10:15:00.000Z");
    expect(next("*/15 * * * *", "2026-11-22T10:15:00Z")).toBe("2026-11-22T10:30:00.000Z");
    expect(next("*/15 * * * *", "2026-11-22T23:59:59Z")).toBe("2026-11-23T00:00:00.000Z");
  });

  it("runs weekdays at 03:00, skipping the weekend", () => {
    // 2026-11-20 is a Friday, 2026-11-23 a Monday.
    expect(next("0 3 * * 1-5", "2026-11-20T02:59:00Z")).toBe("2026-11-20T03:00:00.000Z");
    expect(next("0 3 * * 1-5", "2026-11-20T03:00:00Z")).toBe("2026-11-23T03:00:00.000Z");
    expect(next("0 3 * * mon-fri", "2026-11-21T12:00:00Z")).toBe("2026-11-23T03:00:00.000Z");
  });

  it("skips months too short for the day of month", () => {
    expect(next("0 0 31 * *", "2026-04-01T00:00:00Z")).toBe("2026-05-31T00:00:00.000Z");
    expect(next("30 12 31 * *", "2026-05-31T12:30:00Z")).toBe("2026-07-31T12:30:00.000Z");
  });

  it("finds February 29 only in leap years", () => {
    expect(next("0 12 29 2 *", "2026-03-01T00:00:00Z")).toBe("2028-02-29T12:00:00.000Z");
    expect(next("0 12 29 2 *", "2028-02-29T12:00:00Z")).toBe("2032-02-29T12:00:00.000Z");
  });

  it("rolls over the end of the year", () => {
    expect(next("0 0 1 1 *", "2026-12-31T23:59:00Z")).toBe("2027-01-01T00:00:00.000Z");
    expect(next("@yearly", "2027-01-01T00:00:00Z")).toBe("2028-01-01T00:00:00.000Z");
  });

  it("matches either day field when both are restricted, like Vixie cron", () => {
    // The 1st OR a Monday: from Sunday 2026-11-22, Monday the 23rd comes first, then Tuesday 2026-12-01.
    expect(next("0 0 1 * 1", "2026-11-22T00:00:00Z")).toBe("2026-11-23T00:00:00.000Z");
    expect(next("0 0 1 * 1", "2026-11-23T00:00:00Z")).toBe("2026-11-30T00:00:00.000Z");
    expect(next("0 0 1 * 1", "2026-11-30T00:00:00Z")).toBe("2026-12-01T00:00:00.000Z");
  });

  it("requires both day fields when one starts with '*'", () => {
    // Odd days of the month that are also Mondays: in November 2026 (Mondays 2, 9, 16, 23, 30), the 9th and the 23rd.
    expect(next("0 0 */2 * 1", "2026-11-01T00:00:00Z")).toBe("2026-11-09T00:00:00.000Z");
    expect(next("0 0 */2 * 1", "2026-11-09T00:00:00Z")).toBe("2026-11-23T00:00:00.000Z");
  });

  it("treats day-of-week 7 as Sunday and accepts month names", () => {
    expect(next("0 9 * * 7", "2026-11-20T00:00:00Z")).toBe("2026-11-22T09:00:00.000Z");
    expect(next("0 0 1 jan,JUL *", "2026-02-01T00:00:00Z")).toBe("2026-07-01T00:00:00.000Z");
  });

  it("reads lists, ranges with steps and a start with a step", () => {
    expect([...parseCron("1,2,10-20/5 * * * *").minutes]).toEqual([1, 2, 10, 15, 20]);
    expect([...parseCron("50/5 * * * *").minutes]).toEqual([50, 55]);
    expect(next("0 22-23/1,6 * * *", "2026-11-22T06:00:00Z")).toBe("2026-11-22T22:00:00.000Z");
  });

  it("refuses a schedule that can never fire", () => {
    expect(() => nextRun("0 0 30 2 *", at("2026-01-01T00:00:00Z"))).toThrow(/never matches/);
  });
});

describe("parseCron errors name the field and the problem", () => {
  it.each([
    ["0 3 * *", /expected 5 fields/],
    ["60 * * * *", /minute 60 is outside 0-59/],
    ["0 24 * * *", /hour 24 is outside 0-23/],
    ["0 0 0 * *", /day-of-month 0 is outside 1-31/],
    ["0 0 * 13 *", /month 13 is outside 1-12/],
    ["0 0 * * 8", /day-of-week 8 is outside 0-7/],
    ["0 0 * * fri-mon", /day-of-week range 'fri-mon' runs backwards/],
    ["*/0 * * * *", /minute step '0'/],
    ["jan * * * *", /minute field has 'jan'/],
    ["0 0 1-2-3 * *", /malformed range/],
    ["@sometimes", /unknown macro/],
  ])("'%s'", (expr, pattern) => {
    expect(cronError(expr)).toMatch(pattern);
  });
});

describe("fire times", () => {
  it("give each name a stable jitter within the window, spread across names", () => {
    expect(jitterMs("app")).toBe(jitterMs("app"));
    const values = Array.from({ length: 200 }, (_, i) => jitterMs(`db-${i}`));
    for (const v of values) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(JITTER_MAX_MS);
      expect(v % 1000).toBe(0);
    }
    expect(new Set(values).size).toBeGreaterThan(150);
  });

  it("fire at the cron time plus the jitter, strictly after now", () => {
    const j = jitterMs("app");
    const now = Date.parse("2026-11-22T02:00:00Z");
    expect(nextFireAt("0 3 * * *", "app", now)).toBe(Date.parse("2026-11-22T03:00:00Z") + j);
    // Exactly at the fire time, the next one is tomorrow's: the same run never fires twice.
    const fire = Date.parse("2026-11-22T03:00:00Z") + j;
    expect(nextFireAt("0 3 * * *", "app", fire)).toBe(Date.parse("2026-11-23T03:00:00Z") + j);
  });

  it("after a three-day outage, schedule one run at the next due time, not one per missed day", () => {
    const j = jitterMs("app");
    const back = Date.parse("2026-11-25T10:00:00Z");
    expect(nextFireAt("0 3 * * *", "app", back)).toBe(Date.parse("2026-11-26T03:00:00Z") + j);
  });

  it("keep a minute cadence even when the jitter is longer than the period", () => {
    expect(jitterMs("x1")).toBeGreaterThan(60_000);
    const now = Date.parse("2026-11-22T00:00:00Z");
    const first = nextFireAt("* * * * *", "x1", now);
    expect(first).toBeGreaterThan(now);
    expect(first - now).toBeLessThanOrEqual(60_000);
    expect(nextFireAt("* * * * *", "x1", first) - first).toBe(60_000);
  });
});
