// Scheduled runs from DatabaseBackups' alarm (a long outage costs one run) and the cron watchdog over 200 databases.
import { createScheduledController, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { META_LAST_SKIPPED, META_NEXT_RUN, META_SCHEDULE, type DatabaseBackups } from "../../src/do/database-backups.ts";
import worker from "../../src/index.ts";
import { nextFireAt } from "../../src/schedule/fire-time.ts";
import { runWatchdog } from "../../src/watchdog.ts";
import { backups, waitFor } from "./helpers.ts";

const DAY_MS = 86_400_000;
const SCHEDULE = "0 0 1 1 *";
const WATCHDOG_DBS = Array.from({ length: 200 }, (_, i) => `w-${String(i).padStart(3, "0")}`);

/**
 * Pretends the object slept through a run due `agoMs` ago: that run is stored as next, and the
 * alarm is due now, or (alarm: false) lost altogether, as after an outage that also lost the alarm.
 */
async function missedRun(db: string, agoMs: number, opts: { alarm: boolean } = { alarm: true }): Promise<void> {
  await runInDurableObject(backups(db), async (o: DatabaseBackups, state) => {
    o.store.setMeta(META_SCHEDULE, SCHEDULE);
    o.store.setMeta(META_NEXT_RUN, String(Date.now() - agoMs));
    if (opts.alarm) await state.storage.setAlarm(Date.now());
    else await state.storage.deleteAlarm();
  });
}

async function scheduledJobs(db: string): Promise<number> {
  const page = await backups(db).listJobs({ limit: 100 });
  if (!page.ok) throw new Error(page.error.message);
  return page.value.jobs.filter((j) => j.trigger === "schedule").length;
}

describe("scheduled runs", () => {
  it("run once after a three-day outage, and the next run is scheduled after now", async () => {
    await missedRun("sched", 3 * DAY_MS);
    // Runs the alarm now, unless workerd already did: either way the due alarm has run once.
    await runDurableObjectAlarm(backups("sched"));
    const page = await backups("sched").listJobs({ limit: 10 });
    if (!page.ok) throw new Error(page.error.message);
    expect(page.value.jobs.map((j) => j.trigger)).toEqual(["schedule"]);
    // Its database has no DATABASE_URL secret, so the one run fails at start, visibly.
    expect(page.value.jobs[0]).toMatchObject({ state: "failed", error: { code: "CONFIG_INVALID" } });
    const { next, alarm } = await runInDurableObject(backups("sched"), async (o: DatabaseBackups, state) => ({
      next: Number(o.store.getMeta(META_NEXT_RUN)),
      alarm: await state.storage.getAlarm(),
    }));
    expect(next).toBeGreaterThan(Date.now());
    expect(next).toBe(nextFireAt(SCHEDULE, "sched", Date.now()));
    expect(alarm).toBe(next);
    // The alarm, run again right away, finds nothing due: still one job.
    await runDurableObjectAlarm(backups("sched"));
    const again = await backups("sched").listJobs({ limit: 10 });
    expect(again.ok && again.value.jobs.length).toBe(1);
  });

  it("skip a run that falls due while a job is active instead of queueing a second one", async () => {
    const activeId = await runInDurableObject(backups("sched"), (o: DatabaseBackups) => o.store.create("sched", "manual", Date.now() + DAY_MS, "long job").id);
    await missedRun("sched", 60_000);
    await runDurableObjectAlarm(backups("sched"));
    const { active, skipped, total } = await runInDurableObject(backups("sched"), (o: DatabaseBackups) => ({
      active: o.store.active()?.id,
      skipped: JSON.parse(o.store.getMeta(META_LAST_SKIPPED) ?? "null"),
      total: o.store.list(100).jobs.length,
    }));
    expect(active).toBe(activeId);
    expect(skipped.activeJobId).toBe(activeId);
    expect(total).toBe(2);
  });
});

describe("ensureArmed", () => {
  it("sets a missing alarm to the next fire time, then leaves it alone", async () => {
    const first = await backups("arm").ensureArmed();
    const expected = new Date(nextFireAt(SCHEDULE, "arm", Date.now())).toISOString();
    expect(first).toMatchObject({ db: "arm", action: "armed", alarmAt: expected, nextRunAt: expected });
    expect(await backups("arm").ensureArmed()).toMatchObject({ action: "ok", alarmAt: expected });
  });

  it("re-arms a lost alarm for a missed run, and the alarm, not the watchdog, runs it exactly once", async () => {
    await missedRun("rearm", DAY_MS, { alarm: false });
    const before = Date.now();
    const r = await backups("rearm").ensureArmed();
    expect(r.action).toBe("armed");
    expect(Date.parse(r.alarmAt!)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(r.alarmAt!)).toBeLessThanOrEqual(Date.now());
    await runDurableObjectAlarm(backups("rearm"));
    await waitFor("the missed run", async () => ((await scheduledJobs("rearm")) === 1 ? true : undefined));
    const after = await backups("rearm").ensureArmed();
    expect(after.action).toBe("ok");
    expect(Date.parse(after.alarmAt!)).toBe(nextFireAt(SCHEDULE, "rearm", Date.now()));
    await runDurableObjectAlarm(backups("rearm"));
    expect(await scheduledJobs("rearm")).toBe(1);
  });
});

describe("the cron watchdog", () => {
  it("arms all 200 databases in one tick, and a second tick changes nothing", async () => {
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), env);

    const states = await Promise.all(
      WATCHDOG_DBS.map((db) =>
        runInDurableObject(backups(db), async (o: DatabaseBackups, state) => ({
          db,
          alarm: await state.storage.getAlarm(),
          next: Number(o.store.getMeta(META_NEXT_RUN)),
          jobs: o.store.list(10).jobs.length,
        })),
      ),
    );
    for (const s of states) {
      expect(s.alarm, s.db).toBe(s.next);
      expect(s.next, s.db).toBe(nextFireAt(SCHEDULE, s.db, Date.now()));
      expect(s.jobs, s.db).toBe(0);
    }
    // Jitter spreads the 200 identical schedules over the jitter window.
    expect(new Set(states.map((s) => s.next)).size).toBeGreaterThan(150);

    const second = await runWatchdog(env);
    expect(second.errors).toEqual([]);
    const mine = second.reports.filter((r) => WATCHDOG_DBS.includes(r.db));
    expect(mine.length).toBe(200);
    for (const r of mine) {
      expect(r.action, r.db).toBe("ok");
      expect(Date.parse(r.alarmAt!), r.db).toBe(states.find((s) => s.db === r.db)!.alarm);
      expect(r.activeJobId, r.db).toBeNull();
    }
  });
});
