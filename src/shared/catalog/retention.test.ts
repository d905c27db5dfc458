// Tests for the retention planner: its invariants as properties, GFS against an independent model, calendar edges, defaults, policy validation.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isPgsealError } from "../errors.ts";
import type { ManifestStatus } from "./manifest.ts";
import { DEFAULT_RETENTION, parseRetentionPolicy, planRetention, type RetentionDecision, type RetentionItem, type RetentionPlan, type RetentionPolicy } from "./retention.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const UNSEALED: ManifestStatus[] = ["uploaded", "drill-failed", "drill-skipped"];
const NONE: RetentionPolicy = { keepLast: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, maxAgeDays: null, unsealedGraceDays: 7 };

const ms = (iso: string) => Date.parse(iso);
const all = (p: RetentionPlan) => [...p.keep, ...p.delete];
const keys = (ds: { key: string }[]) => ds.map((d) => d.key);
const decision = (p: RetentionPlan, key: string) => all(p).find((d) => d.key === key)!;
const item = (key: string, createdAt: string, status: ManifestStatus = "sealed", lockedUntil?: string | null): RetentionItem => ({
  key,
  createdAt,
  status,
  ...(lockedUntil === undefined ? {} : { lockedUntil }),
});
/** Sealed backups named by their createdAt, so expectations read as dates. */
const sealedAt = (...isos: string[]) => isos.map((iso) => item(iso, iso));
const pad = (n: number) => String(n).padStart(2, "0");

/** The same instant written with a UTC offset of `offsetMin` minutes. */
function withOffset(t: number, offsetMin: number): string {
  const local = new Date(t + offsetMin * 60_000).toISOString().slice(0, 23);
  const a = Math.abs(offsetMin);
  return `${local}${offsetMin < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

function byNewest(a: { ms: number; key: string }, b: { ms: number; key: string }): number {
  return b.ms - a.ms || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

// --- generators: several years (2024 and 2028 are leap years), with month ends, leap days, new years and regular cadences

const MIN = ms("2024-01-01T00:00:00Z");
const MAX = ms("2029-12-31T23:59:59Z");
const EDGES = [
  "2024-02-29T12:00:00Z",
  "2024-03-01T00:00:00Z",
  "2024-12-30T00:00:00Z",
  "2025-01-01T00:00:00Z",
  "2026-01-31T23:59:59.999Z",
  "2026-02-01T00:00:00Z",
  "2026-02-28T23:00:00Z",
  "2026-12-31T23:30:00Z",
  "2027-01-01T00:30:00Z",
  "2027-01-04T00:00:00Z",
  "2028-02-29T00:00:00Z",
  "2028-02-29T23:59:59Z",
  "2028-03-01T00:00:00Z",
].map(ms);

const instant = fc.oneof(
  fc.integer({ min: MIN, max: MAX }),
  fc.tuple(fc.constantFrom(...EDGES), fc.integer({ min: -6 * HOUR, max: 6 * HOUR })).map(([t, d]) => t + d),
);
/** A backup schedule: every step back from start, so hours, days and weeks hold several backups. */
const cadence = fc
  .record({ start: fc.integer({ min: MIN, max: MAX }), step: fc.constantFrom(20 * 60_000, HOUR, 6 * HOUR, DAY, 3 * DAY, 7 * DAY, 30 * DAY), count: fc.integer({ min: 0, max: 40 }) })
  .map(({ start, step, count }) => Array.from({ length: count }, (_, i) => start - i * step));
const instants = fc.tuple(fc.array(instant, { maxLength: 15 }), cadence).map(([a, b]) => [...a, ...b]);

const statusArb = fc.constantFrom<ManifestStatus>("sealed", "sealed", "sealed", "uploaded", "drill-failed", "drill-skipped");
const lockArb = fc.option(
  fc.oneof(
    fc.integer({ min: MIN, max: MAX }).map((t) => new Date(t).toISOString()),
    fc.constant(null),
  ),
  { freq: 3, nil: undefined },
);

function itemsFrom(ts: number[], status: fc.Arbitrary<ManifestStatus>, prefix: string): fc.Arbitrary<RetentionItem[]> {
  return fc
    .array(fc.record({ status, lock: lockArb }), { minLength: ts.length, maxLength: ts.length })
    .map((attrs) => ts.map((t, i) => item(`${prefix}${String(i).padStart(3, "0")}`, new Date(t).toISOString(), attrs[i].status, attrs[i].lock)));
}
const itemsArb = instants.chain((ts) => itemsFrom(ts, statusArb, "b"));
const nowArb = fc.integer({ min: MIN, max: MAX + 400 * DAY }).map((t) => new Date(t));
const policyArb: fc.Arbitrary<RetentionPolicy> = fc.record({
  keepLast: fc.integer({ min: 0, max: 5 }),
  hourly: fc.integer({ min: 0, max: 6 }),
  daily: fc.integer({ min: 0, max: 8 }),
  weekly: fc.integer({ min: 0, max: 5 }),
  monthly: fc.integer({ min: 0, max: 13 }),
  yearly: fc.integer({ min: 0, max: 3 }),
  maxAgeDays: fc.option(fc.integer({ min: 1, max: 800 }), { nil: null }),
  unsealedGraceDays: fc.integer({ min: 0, max: 30 }),
});

const RUNS = { numRuns: 400 };

// --- an independent model of keep-last + GFS: declarative, over numeric period indexes

function periodIndex(kind: "hourly" | "daily" | "weekly" | "monthly" | "yearly", t: number): number {
  const d = new Date(t);
  switch (kind) {
    case "hourly":
      return Math.floor(t / HOUR);
    case "daily":
      return Math.floor(t / DAY);
    case "weekly":
      return Math.floor((Math.floor(t / DAY) + 3) / 7); // 1970-01-01 was a Thursday: weeks from Monday
    case "monthly":
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    case "yearly":
      return d.getUTCFullYear();
  }
}

/** Keys of sealed items that keep-last or a GFS period selects: newest of its period, and fewer than `count` newer periods hold a sealed backup. */
function modelSelected(items: RetentionItem[], policy: RetentionPolicy): Set<string> {
  const sealed = items
    .filter((i) => i.status === "sealed")
    .map((i) => ({ key: i.key, ms: ms(i.createdAt) }))
    .sort(byNewest);
  const out = new Set(sealed.slice(0, policy.keepLast).map((s) => s.key));
  for (const kind of ["hourly", "daily", "weekly", "monthly", "yearly"] as const) {
    for (const [i, s] of sealed.entries()) {
      const p = periodIndex(kind, s.ms);
      const newestOfPeriod = sealed.findIndex((o) => periodIndex(kind, o.ms) === p) === i;
      const newerPeriods = new Set(sealed.map((o) => periodIndex(kind, o.ms)).filter((q) => q > p)).size;
      if (newestOfPeriod && newerPeriods < policy[kind]) out.add(s.key);
    }
  }
  return out;
}

function newestSealedMs(items: RetentionItem[]): number | null {
  const s = items.filter((i) => i.status === "sealed").map((i) => ms(i.createdAt));
  return s.length ? Math.max(...s) : null;
}
const lockedAt = (i: RetentionItem, now: Date) => i.lockedUntil != null && ms(i.lockedUntil) > now.getTime();

describe("retention invariants (properties)", () => {
  it("puts every item in exactly one list, matching its action, newest first, with createdAt as the UTC instant", () => {
    fc.assert(
      fc.property(itemsArb, policyArb, nowArb, (items, policy, now) => {
        const plan = planRetention(items, policy, now);
        expect(keys(all(plan)).sort()).toEqual(keys(items).sort());
        expect(plan.keep.every((d) => d.action === "keep") && plan.delete.every((d) => d.action === "delete")).toBe(true);
        for (const list of [plan.keep, plan.delete]) {
          const order = list.map((d) => ({ key: d.key, ms: ms(d.createdAt) }));
          expect(order).toEqual([...order].sort(byNewest));
        }
        for (const d of all(plan)) {
          const src = items.find((i) => i.key === d.key)!;
          expect(d.createdAt).toBe(new Date(src.createdAt).toISOString());
          expect(d.status).toBe(src.status);
          expect(d.reasons.length).toBeGreaterThan(0);
        }
      }),
      RUNS,
    );
  });

  it("always keeps the newest sealed backup, even when the policy keeps nothing and it is past max age", () => {
    const harsh = fc.constant<RetentionPolicy>({ ...NONE, maxAgeDays: 1, unsealedGraceDays: 0 });
    fc.assert(
      fc.property(itemsArb, fc.oneof(policyArb, harsh), nowArb, (items, policy, now) => {
        const newest = items
          .filter((i) => i.status === "sealed")
          .map((i) => ({ key: i.key, ms: ms(i.createdAt) }))
          .sort(byNewest)[0];
        fc.pre(newest !== undefined);
        const d = decision(planRetention(items, policy, now), newest.key);
        expect(d.action).toBe("keep");
        expect(d.reasons[0]).toBe("newest sealed");
      }),
      RUNS,
    );
  });

  it("deletes nothing when no backup is sealed", () => {
    const unsealedItems = instants.chain((ts) => itemsFrom(ts, fc.constantFrom(...UNSEALED), "u"));
    fc.assert(
      fc.property(unsealedItems, policyArb, nowArb, (items, policy, now) => {
        expect(planRetention(items, policy, now).delete).toEqual([]);
      }),
      RUNS,
    );
  });

  it("deletes an unsealed backup exactly when it is past grace, a newer sealed backup exists and no lock holds it", () => {
    fc.assert(
      fc.property(itemsArb, policyArb, nowArb, (items, policy, now) => {
        const plan = planRetention(items, policy, now);
        const newest = newestSealedMs(items);
        for (const i of items.filter((x) => x.status !== "sealed")) {
          const t = ms(i.createdAt);
          const expected = now.getTime() - t > policy.unsealedGraceDays * DAY && newest !== null && newest > t && !lockedAt(i, now);
          expect(decision(plan, i.key).action).toBe(expected ? "delete" : "keep");
        }
      }),
      RUNS,
    );
  });

  it("keeps a sealed backup exactly when it is the newest, is locked, or keep-last/GFS selects it within max age (matches an independent model)", () => {
    fc.assert(
      fc.property(itemsArb, policyArb, nowArb, (items, policy, now) => {
        const plan = planRetention(items, policy, now);
        const selected = modelSelected(items, policy);
        const newest = items
          .filter((i) => i.status === "sealed")
          .map((i) => ({ key: i.key, ms: ms(i.createdAt) }))
          .sort(byNewest)[0];
        for (const i of items.filter((x) => x.status === "sealed")) {
          const withinMaxAge = policy.maxAgeDays === null || now.getTime() - ms(i.createdAt) <= policy.maxAgeDays * DAY;
          const expected = i.key === newest.key || lockedAt(i, now) || (selected.has(i.key) && withinMaxAge);
          expect(decision(plan, i.key).action, i.key).toBe(expected ? "keep" : "delete");
        }
      }),
      RUNS,
    );
  });

  it("keeps no more sealed backups than 1 + keepLast + all period counts, besides locked ones", () => {
    fc.assert(
      fc.property(itemsArb, policyArb, nowArb, (items, policy, now) => {
        const plan = planRetention(items, policy, now);
        const kept = plan.keep.filter((d) => d.status === "sealed" && !lockedAt(items.find((i) => i.key === d.key)!, now));
        expect(kept.length).toBeLessThanOrEqual(1 + policy.keepLast + policy.hourly + policy.daily + policy.weekly + policy.monthly + policy.yearly);
      }),
      RUNS,
    );
  });

  it("never deletes an item locked until after now", () => {
    fc.assert(
      fc.property(itemsArb, policyArb, nowArb, (items, policy, now) => {
        const plan = planRetention(items, policy, now);
        for (const d of plan.delete) expect(lockedAt(items.find((i) => i.key === d.key)!, now)).toBe(false);
        for (const i of items.filter((x) => lockedAt(x, now))) expect(decision(plan, i.key).reasons).toContain(`locked until ${new Date(i.lockedUntil!).toISOString().replace(".000Z", "Z")}`);
      }),
      RUNS,
    );
  });

  it("gives the same plan for the same items in any order", () => {
    const shuffled = itemsArb.chain((items) => fc.tuple(fc.constant(items), fc.shuffledSubarray(items, { minLength: items.length, maxLength: items.length })));
    fc.assert(
      fc.property(shuffled, policyArb, nowArb, ([items, reordered], policy, now) => {
        expect(planRetention(reordered, policy, now)).toEqual(planRetention(items, policy, now));
      }),
      RUNS,
    );
  });

  it("gives the same plan when the same instants are written with other UTC offsets", () => {
    const offsets = fc.array(
      fc.integer({ min: -48, max: 56 }).map((q) => q * 15),
      { minLength: 80, maxLength: 80 },
    );
    fc.assert(
      fc.property(itemsArb, offsets, policyArb, nowArb, (items, offs, policy, now) => {
        const rewritten = items.map((i, n) => ({ ...i, createdAt: withOffset(ms(i.createdAt), offs[n % offs.length]) }));
        expect(planRetention(rewritten, policy, now)).toEqual(planRetention(items, policy, now));
      }),
      RUNS,
    );
  });

  it("is idempotent at the same now: planning again over the kept items deletes nothing", () => {
    fc.assert(
      fc.property(itemsArb, policyArb, nowArb, (items, policy, now) => {
        const kept = new Set(keys(planRetention(items, policy, now).keep));
        const again = planRetention(
          items.filter((i) => kept.has(i.key)),
          policy,
          now,
        );
        expect(again.delete).toEqual([]);
      }),
      RUNS,
    );
  });

  it("a run of unsealed backups newer than every sealed one is never deleted and changes no other decision", () => {
    const withRun = fc.tuple(itemsArb, fc.array(fc.record({ after: fc.integer({ min: 1, max: 400 * DAY }), status: fc.constantFrom(...UNSEALED), lock: lockArb }), { maxLength: 12 }));
    fc.assert(
      fc.property(withRun, policyArb, nowArb, ([history, run], policy, now) => {
        const base = newestSealedMs(history) ?? MIN;
        const failures = run.map((r, n) => item(`f${n}`, new Date(base + r.after).toISOString(), r.status, r.lock));
        const alone = planRetention(history, policy, now);
        const together = planRetention([...history, ...failures], policy, now);
        const onlyHistory = (ds: RetentionDecision[]) => ds.filter((d) => !d.key.startsWith("f"));
        expect(onlyHistory(together.keep)).toEqual(alone.keep);
        expect(together.delete).toEqual(alone.delete);
        for (const f of failures) expect(decision(together, f.key).action).toBe("keep");
      }),
      RUNS,
    );
  });

  it("while only failures arrive and maxAgeDays is unset, a later prune deletes no sealed backup except one whose lock has run out", () => {
    // Not "deletes nothing at all": as time passes, grace periods of older unsealed backups end
    // and locks run out; and with maxAgeDays set, sealed backups age out (see the table test below).
    const scenario = fc.tuple(
      itemsArb,
      fc.array(fc.record({ after: fc.integer({ min: 1, max: 400 * DAY }), status: fc.constantFrom(...UNSEALED) }), { maxLength: 12 }),
      fc.integer({ min: 0, max: 3 * 365 * DAY }),
    );
    fc.assert(
      fc.property(scenario, policyArb, nowArb, ([history, run, later], anyPolicy, t0) => {
        const policy = { ...anyPolicy, maxAgeDays: null };
        const t1 = new Date(t0.getTime() + later);
        const kept = new Set(keys(planRetention(history, policy, t0).keep));
        const remaining = history.filter((i) => kept.has(i.key));
        const base = newestSealedMs(history) ?? MIN;
        const failures = run.map((r, n) => item(`f${n}`, new Date(base + r.after).toISOString(), r.status));
        const plan = planRetention([...remaining, ...failures], policy, t1);
        for (const d of plan.delete) {
          const i = remaining.find((x) => x.key === d.key)!;
          expect(i, d.key).toBeDefined(); // never one of the failures
          if (i.status === "sealed") {
            expect(i.lockedUntil != null && ms(i.lockedUntil) > t0.getTime() && ms(i.lockedUntil) <= t1.getTime(), d.key).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });
});

describe("calendar periods are UTC", () => {
  /** The weekly label a lone sealed backup at `iso` gets. */
  const weekOf = (iso: string) => planRetention(sealedAt(iso), { ...NONE, weekly: 1 }, new Date(iso)).keep[0].reasons.find((r) => r.startsWith("weekly "));

  it.each([
    // checked against GNU date +%G-W%V
    ["2026-01-01T12:00:00Z", "weekly 2026-W01"],
    ["2026-12-31T12:00:00Z", "weekly 2026-W53"],
    ["2027-01-01T12:00:00Z", "weekly 2026-W53"],
    ["2027-01-03T23:59:59Z", "weekly 2026-W53"],
    ["2027-01-04T00:00:00Z", "weekly 2027-W01"],
    ["2024-12-30T12:00:00Z", "weekly 2025-W01"],
    ["2021-01-03T12:00:00Z", "weekly 2020-W53"],
    ["2028-01-01T12:00:00Z", "weekly 2027-W52"],
    ["2028-02-29T12:00:00Z", "weekly 2028-W09"],
  ])("puts %s in the ISO-8601 week %s (week-numbering year)", (iso, expected) => {
    expect(weekOf(iso)).toBe(expected);
  });

  it("counts the days around new year 2027 as one ISO week: weekly 2 keeps 2027-01-03 and the Sunday before the week", () => {
    const plan = planRetention(sealedAt("2027-01-03T10:00:00Z", "2027-01-01T10:00:00Z", "2026-12-31T10:00:00Z", "2026-12-27T10:00:00Z"), { ...NONE, weekly: 2 }, new Date("2027-01-03T12:00:00Z"));
    expect(keys(plan.keep)).toEqual(["2027-01-03T10:00:00Z", "2026-12-27T10:00:00Z"]);
    expect(decision(plan, "2026-12-27T10:00:00Z").reasons).toEqual(["weekly 2026-W52"]);
  });

  it("splits January 31 and February 1 into different days and months", () => {
    const plan = planRetention(sealedAt("2026-02-01T00:30:00Z", "2026-01-31T23:30:00Z", "2026-01-30T12:00:00Z"), { ...NONE, monthly: 2 }, new Date("2026-02-01T12:00:00Z"));
    expect(plan.keep.map((d) => [d.key, d.reasons])).toEqual([
      ["2026-02-01T00:30:00Z", ["newest sealed", "monthly 2026-02"]],
      ["2026-01-31T23:30:00Z", ["monthly 2026-01"]],
    ]);
    expect(keys(plan.delete)).toEqual(["2026-01-30T12:00:00Z"]);
  });

  it("treats the leap day 2028-02-29 as a day of its own and of February", () => {
    const plan = planRetention(
      sealedAt("2028-03-01T00:00:00Z", "2028-02-29T22:00:00Z", "2028-02-29T01:00:00Z", "2028-02-28T23:00:00Z"),
      { ...NONE, daily: 3, monthly: 2 },
      new Date("2028-03-01T06:00:00Z"),
    );
    expect(plan.keep.map((d) => [d.key, d.reasons])).toEqual([
      ["2028-03-01T00:00:00Z", ["newest sealed", "daily 2028-03-01", "monthly 2028-03"]],
      ["2028-02-29T22:00:00Z", ["daily 2028-02-29", "monthly 2028-02"]],
      ["2028-02-28T23:00:00Z", ["daily 2028-02-28"]],
    ]);
    expect(keys(plan.delete)).toEqual(["2028-02-29T01:00:00Z"]);
  });

  it("keeps one backup per year across the year boundary with yearly 2", () => {
    const plan = planRetention(sealedAt("2027-01-01T00:00:00Z", "2026-12-31T23:59:59Z", "2026-06-01T00:00:00Z"), { ...NONE, yearly: 2 }, new Date("2027-01-02T00:00:00Z"));
    expect(plan.keep.map((d) => [d.key, d.reasons])).toEqual([
      ["2027-01-01T00:00:00Z", ["newest sealed", "yearly 2027"]],
      ["2026-12-31T23:59:59Z", ["yearly 2026"]],
    ]);
    expect(keys(plan.delete)).toEqual(["2026-06-01T00:00:00Z"]);
  });

  it("keeps the newest backup of each recent hour with hourly", () => {
    const times = ["12:40", "12:20", "12:00", "11:40", "11:20", "10:40"].map((hm) => `2026-11-20T${hm}:00Z`);
    const plan = planRetention(sealedAt(...times), { ...NONE, hourly: 2 }, new Date("2026-11-20T13:00:00Z"));
    expect(plan.keep.map((d) => [d.key, d.reasons])).toEqual([
      ["2026-11-20T12:40:00Z", ["newest sealed", "hourly 2026-11-20T12"]],
      ["2026-11-20T11:40:00Z", ["hourly 2026-11-20T11"]],
    ]);
  });

  it("reads a +02:00 timestamp as its UTC instant: 2027-01-01T01:30+02:00 belongs to 2026-12-31, 2026-W53 and 2026", () => {
    const plan = planRetention([item("a", "2027-01-01T01:30:00+02:00")], { ...NONE, daily: 1, weekly: 1, monthly: 1, yearly: 1 }, new Date("2027-01-01T12:00:00Z"));
    expect(plan.keep[0]).toEqual({
      key: "a",
      createdAt: "2026-12-31T23:30:00.000Z",
      status: "sealed",
      action: "keep",
      reasons: ["newest sealed", "daily 2026-12-31", "weekly 2026-W53", "monthly 2026-12", "yearly 2026"],
    });
  });

  it("orders by instant, not by text: 2026-04-30T23:30Z is newer than 2026-05-01T01:00+02:00", () => {
    const plan = planRetention([item("offset", "2026-05-01T01:00:00+02:00"), item("utc", "2026-04-30T23:30:00Z")], { ...NONE, keepLast: 1 }, new Date("2026-05-01T00:00:00Z"));
    expect(keys(plan.keep)).toEqual(["utc"]);
    expect(keys(plan.delete)).toEqual(["offset"]);
  });
});

describe("rules in examples", () => {
  it("with the defaults, 60 daily sealed backups keep 3 last, 7 daily, 4 weekly and 3 monthly: 11 backups, listed with every reason", () => {
    // 2026-01-01 (a Thursday) to 2026-03-01 (a Sunday), 02:00 UTC each day.
    const days = Array.from({ length: 60 }, (_, i) => new Date(Date.UTC(2026, 0, 1 + i, 2)).toISOString());
    expect(days.at(-1)).toBe("2026-03-01T02:00:00.000Z");
    const plan = planRetention(sealedAt(...days), DEFAULT_RETENTION, new Date("2026-03-01T12:00:00Z"));
    expect(plan.keep.map((d) => [d.createdAt.slice(0, 10), d.reasons])).toEqual([
      ["2026-03-01", ["newest sealed", "keep-last 1/3", "daily 2026-03-01", "weekly 2026-W09", "monthly 2026-03"]],
      ["2026-02-28", ["keep-last 2/3", "daily 2026-02-28", "monthly 2026-02"]],
      ["2026-02-27", ["keep-last 3/3", "daily 2026-02-27"]],
      ["2026-02-26", ["daily 2026-02-26"]],
      ["2026-02-25", ["daily 2026-02-25"]],
      ["2026-02-24", ["daily 2026-02-24"]],
      ["2026-02-23", ["daily 2026-02-23"]],
      ["2026-02-22", ["weekly 2026-W08"]],
      ["2026-02-15", ["weekly 2026-W07"]],
      ["2026-02-08", ["weekly 2026-W06"]],
      ["2026-01-31", ["monthly 2026-01"]],
    ]);
    expect(plan.delete).toHaveLength(49);
    expect(plan.delete.every((d) => d.reasons.join() === "sealed, not kept by keep-last or any period")).toBe(true);
  });

  it("keeps a fresh drill-failed backup within grace and deletes it once past grace with a newer sealed one", () => {
    // Days 1-10 of March 2026 at 03:00, day 9's drill failed; keep-last 1, daily 3.
    const items = Array.from({ length: 10 }, (_, i) => item(`d${i + 1}`, new Date(Date.UTC(2026, 2, i + 1, 3)).toISOString(), i === 8 ? "drill-failed" : "sealed"));
    const policy = { ...NONE, keepLast: 1, daily: 3 };
    const first = planRetention(items, policy, new Date("2026-03-10T12:00:00Z"));
    expect(keys(first.keep)).toEqual(["d10", "d9", "d8", "d7"]);
    expect(decision(first, "d9").reasons).toEqual(["unsealed, within grace (7 d)"]);
    expect(decision(first, "d10").reasons).toEqual(["newest sealed", "keep-last 1/1", "daily 2026-03-10"]);
    const later = planRetention(items, policy, new Date("2026-03-17T12:00:00Z"));
    expect(decision(later, "d9")).toMatchObject({ action: "delete", reasons: ["unsealed, past grace (7 d) and a newer sealed backup exists"] });
  });

  it("keeps unsealed backups past grace while no newer sealed backup exists, even one of equal time", () => {
    const plan = planRetention(
      [item("s", "2026-01-01T00:00:00Z"), item("tie", "2026-01-01T00:00:00Z", "uploaded"), item("old", "2025-06-01T00:00:00Z", "drill-skipped"), item("new", "2026-01-02T00:00:00Z", "drill-failed")],
      NONE,
      new Date("2027-01-01T00:00:00Z"),
    );
    expect(keys(plan.keep)).toEqual(["new", "s", "tie"]);
    expect(decision(plan, "new").reasons).toEqual(["unsealed, waiting for a newer sealed backup"]);
    expect(keys(plan.delete)).toEqual(["old"]);
  });

  it("counts grace and max age as strictly older: exactly 7 days (or max age) old still stays, one millisecond more goes", () => {
    const items = [item("s", "2026-03-10T00:00:00Z"), item("sealed-old", "2026-03-01T00:00:00Z"), item("failed", "2026-03-01T00:00:00Z", "drill-failed")];
    const policy = { ...NONE, keepLast: 2, maxAgeDays: 7 };
    const exactly = planRetention(items, policy, new Date("2026-03-08T00:00:00Z"));
    expect(keys(exactly.delete)).toEqual([]);
    const after = planRetention(items, policy, new Date("2026-03-08T00:00:00.001Z"));
    expect(keys(after.delete)).toEqual(["failed", "sealed-old"]);
  });

  it("keeps only the newest sealed backup when the policy keeps nothing and it is past max age", () => {
    const plan = planRetention(sealedAt("2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z"), { ...NONE, maxAgeDays: 1 }, new Date("2027-01-01T00:00:00Z"));
    expect(plan.keep.map((d) => [d.key, d.reasons])).toEqual([["2026-01-03T00:00:00Z", ["newest sealed", "older than max age 1 d, but the newest sealed is never deleted"]]]);
    expect(decision(plan, "2026-01-02T00:00:00Z").reasons).toEqual(["older than max age 1 d"]);
  });

  it("lets max age override keep-last and daily, and says which keeps it overrode", () => {
    const plan = planRetention(sealedAt("2026-03-10T00:00:00Z", "2026-03-08T00:00:00Z", "2026-03-05T00:00:00Z"), { ...NONE, keepLast: 3, daily: 3, maxAgeDays: 3 }, new Date("2026-03-10T12:00:00Z"));
    expect(keys(plan.keep)).toEqual(["2026-03-10T00:00:00Z", "2026-03-08T00:00:00Z"]);
    expect(decision(plan, "2026-03-05T00:00:00Z").reasons).toEqual(["older than max age 3 d", "max age overrides: keep-last 3/3, daily 2026-03-05"]);
  });

  it("keeps a locked backup until its lock date and says why, then deletes it", () => {
    const items = [item("new", "2026-03-10T00:00:00Z"), item("locked", "2026-03-01T00:00:00Z", "sealed", "2026-12-01T00:00:00Z")];
    const before = planRetention(items, NONE, new Date("2026-11-30T23:59:59Z"));
    expect(decision(before, "locked")).toMatchObject({ action: "keep", reasons: ["locked until 2026-12-01T00:00:00Z", "without the lock: delete (sealed, not kept by keep-last or any period)"] });
    expect(decision(planRetention(items, NONE, new Date("2026-12-01T00:00:00Z")), "locked").action).toBe("delete");
    const keptAnyway = planRetention(items, { ...NONE, keepLast: 2 }, new Date("2026-11-01T00:00:00Z"));
    expect(decision(keptAnyway, "locked").reasons).toEqual(["keep-last 2/2", "locked until 2026-12-01T00:00:00Z"]);
  });

  it("deletes nothing during a run of failures without max age, but lets sealed backups age out with max age (never the newest sealed)", () => {
    // The counterexample to "a run of failures never causes deletions" once time passes with maxAgeDays set.
    const sealed = Array.from({ length: 10 }, (_, i) => item(`s${i + 1}`, new Date(Date.UTC(2026, 2, i + 1)).toISOString()));
    const failures = Array.from({ length: 100 }, (_, i) => item(`f${i}`, new Date(Date.UTC(2026, 2, 11 + i)).toISOString(), "drill-failed"));
    const now = new Date("2026-06-30T12:00:00Z");
    expect(planRetention([...sealed, ...failures], { ...DEFAULT_RETENTION, keepLast: 10 }, now).delete).toEqual([]);
    const capped = planRetention([...sealed, ...failures], { ...DEFAULT_RETENTION, keepLast: 10, maxAgeDays: 30 }, now);
    expect(keys(capped.delete).sort()).toEqual(["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"]);
    expect(decision(capped, "s10").action).toBe("keep");
  });
});

describe("invalid input", () => {
  const policy = DEFAULT_RETENTION;
  const now = new Date("2026-03-10T00:00:00Z");
  const manifestInvalid = (items: RetentionItem[], key: string) => {
    try {
      planRetention(items, policy, now);
    } catch (e) {
      expect(isPgsealError(e, "MANIFEST_INVALID")).toBe(true);
      expect((e as Error).message).toContain(JSON.stringify(key));
      return;
    }
    throw new Error("expected MANIFEST_INVALID");
  };

  it.each([["2026-03-09T04:05:06"], ["2026-03-09"], ["2026-02-30T00:00:00Z"], ["2026-03-09T24:00:00Z"], ["9 March 2026"], [""]])(
    "refuses createdAt %j (not an instant with an offset) naming the key",
    (createdAt) => {
      manifestInvalid([item("ok", "2026-03-09T00:00:00Z"), item("bad-one", createdAt)], "bad-one");
    },
  );

  it("refuses an unreadable lockedUntil, an unknown status and a repeated key", () => {
    manifestInvalid([item("lock", "2026-03-09T00:00:00Z", "sealed", "soon")], "lock");
    manifestInvalid([item("st", "2026-03-09T00:00:00Z", "verified" as ManifestStatus)], "st");
    manifestInvalid([item("twice", "2026-03-09T00:00:00Z"), item("twice", "2026-03-08T00:00:00Z")], "twice");
  });

  it("refuses a policy that does not validate with CONFIG_INVALID", () => {
    expect(() => planRetention([], { ...NONE, keepLast: -1 }, now)).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
  });
});

describe("parseRetentionPolicy", () => {
  it("fills missing fields from the defaults", () => {
    expect(parseRetentionPolicy({}, "p")).toEqual({ policy: DEFAULT_RETENTION, problems: [] });
    expect(parseRetentionPolicy({ daily: 3, maxAgeDays: 90 }, "p")).toEqual({ policy: { ...DEFAULT_RETENTION, daily: 3, maxAgeDays: 90 }, problems: [] });
  });

  it("names every bad and unknown field by its path and keeps the default for each", () => {
    const { policy, problems } = parseRetentionPolicy({ daily: -1, weekly: 1.5, monthly: "12", yearly: Number.NaN, maxAgeDays: 0, unsealedGraceDays: null, keep_last: 3 }, "databases.app.retention");
    expect(problems.map((p) => p.path).sort()).toEqual(["daily", "weekly", "monthly", "yearly", "maxAgeDays", "unsealedGraceDays", "keep_last"].map((f) => `databases.app.retention.${f}`).sort());
    expect(problems.find((p) => p.path.endsWith(".keep_last"))?.message).toMatch(/^unknown field/);
    expect(policy).toEqual(DEFAULT_RETENTION);
  });

  it("refuses what is not an object at the path itself", () => {
    for (const raw of [null, 7, "daily 7", [1]]) expect(parseRetentionPolicy(raw, "databases.app.retention").problems.map((p) => p.path)).toEqual(["databases.app.retention"]);
  });

  it("accepts maxAgeDays null and round-trips any valid policy through JSON", () => {
    fc.assert(
      fc.property(policyArb, (p) => {
        expect(parseRetentionPolicy(JSON.parse(JSON.stringify(p)), "")).toEqual({ policy: p, problems: [] });
      }),
    );
  });

  it("documents its defaults: keep-last 3, daily 7, weekly 4, monthly 12, no hourly, yearly or max age, 7 days of grace", () => {
    expect(DEFAULT_RETENTION).toEqual({ keepLast: 3, hourly: 0, daily: 7, weekly: 4, monthly: 12, yearly: 0, maxAgeDays: null, unsealedGraceDays: 7 });
  });
});
