// The job state machine inside a real DatabaseBackups object: every legal transition is stored with its event, every illegal one is refused.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { DatabaseBackups } from "../../src/do/database-backups.ts";
import { endStateFor } from "../../src/shared/contract/job-states.ts";
import { canTransition, forwardPath, isTerminal, JOB_STATES, TRANSITIONS, type JobState } from "../../src/shared/contract/job-states.ts";
import type { JobRecord, JobStore } from "../../src/do/job-store.ts";
import { backups } from "./helpers.ts";

const DB = "sm";

/** The shortest legal route from queued to `target` (breadth-first over the table). */
function routeTo(target: JobState): JobState[] {
  const prev = new Map<JobState, JobState>();
  const queue: JobState[] = ["queued"];
  const seen = new Set<JobState>(queue);
  while (queue.length > 0) {
    const s = queue.shift()!;
    for (const n of TRANSITIONS[s]) {
      if (seen.has(n)) continue;
      seen.add(n);
      prev.set(n, s);
      queue.push(n);
    }
  }
  if (target !== "queued" && !prev.has(target)) throw new Error(`${target} is unreachable from queued`);
  const route: JobState[] = [];
  for (let s: JobState | undefined = target; s !== undefined && s !== "queued"; s = prev.get(s)) route.unshift(s);
  return route;
}

/** A fresh job walked to `state`; the previous test job is cancelled first when it is still active. */
function jobIn(store: JobStore, state: JobState, now: number): JobRecord {
  const active = store.active();
  if (active) store.transition(active, "cancelled", now, "cleared by the test");
  let job = store.create(DB, "manual", now, "state machine test");
  for (const s of routeTo(state)) job = store.transition(job, s, now, `to ${s}`);
  return job;
}

const PAIRS = JOB_STATES.flatMap((from) => JOB_STATES.map((to) => [from, to] as const));

describe("job state machine", () => {
  it("reaches every state from queued", () => {
    for (const s of JOB_STATES) expect(() => routeTo(s)).not.toThrow();
  });

  it("has no way out of an end state, and every active state can fail or be cancelled", () => {
    for (const s of JOB_STATES) {
      if (isTerminal(s)) expect(TRANSITIONS[s]).toEqual([]);
      else expect(TRANSITIONS[s]).toContain("cancelled");
    }
    for (const s of ["queued", "starting", "dumping", "uploading"] as const) expect(TRANSITIONS[s]).toContain("failed");
  });

  it("stores every legal transition with a timestamped event", async () => {
    const legal = PAIRS.filter(([from, to]) => canTransition(from, to));
    expect(legal.length).toBe(Object.values(TRANSITIONS).flat().length);
    await runInDurableObject(backups(DB), (o: DatabaseBackups) => {
      for (const [from, to] of legal) {
        const now = Date.now();
        const job = jobIn(o.store, from, now);
        const after = o.store.transition(job, to, now + 1, `${from} to ${to}`);
        expect(after.state).toBe(to);
        expect(after.updatedAt).toBe(now + 1);
        expect(o.store.events(job.id).at(-1)).toEqual({ at: now + 1, from, to, detail: `${from} to ${to}` });
      }
    });
  });

  it("refuses every illegal transition and leaves the job and its history untouched", async () => {
    const illegal = PAIRS.filter(([from, to]) => !canTransition(from, to));
    expect(illegal.length).toBe(JOB_STATES.length ** 2 - Object.values(TRANSITIONS).flat().length);
    await runInDurableObject(backups(DB), (o: DatabaseBackups) => {
      for (const [from, to] of illegal) {
        const job = jobIn(o.store, from, Date.now());
        const events = o.store.events(job.id).length;
        expect(() => o.store.transition(job, to, Date.now(), "must not happen"), `${from} → ${to}`).toThrow(`illegal job state transition ${from} → ${to}`);
        expect(o.store.get(job.id)!.state).toBe(from);
        expect(o.store.events(job.id).length).toBe(events);
      }
    });
  });

  it("drops a transition computed from a state the job has already left", async () => {
    await runInDurableObject(backups(DB), (o: DatabaseBackups) => {
      const seen = jobIn(o.store, "dumping", Date.now());
      o.store.transition(seen, "cancelled", Date.now(), "cancelled meanwhile");
      expect(() => o.store.transition(seen, "uploading", Date.now(), "stale")).toThrow(/no longer dumping/);
      expect(o.store.get(seen.id)!.state).toBe("cancelled");
      expect(o.store.update(seen, Date.now(), { missedPolls: 1 })).toBeNull();
    });
  });

  it("refuses a second active job in the same database", async () => {
    await runInDurableObject(backups(DB), (o: DatabaseBackups) => {
      const first = jobIn(o.store, "uploading", Date.now());
      expect(() => o.store.create(DB, "schedule", Date.now(), "second")).toThrow(`job ${first.id} is still uploading`);
    });
  });

  it("walks forward through phases the streamer passed between two polls", () => {
    expect(forwardPath("starting", "uploaded")).toEqual(["dumping", "uploading", "uploaded"]);
    expect(forwardPath("queued", "dumping")).toEqual(["starting", "dumping"]);
    expect(forwardPath("uploading", "dumping")).toEqual([]);
    expect(forwardPath("dumping", "failed")).toEqual(["failed"]);
  });
});

describe("drill verdicts", () => {
  it("end the job in the state the manifest's status names, and only a pass is sealed", () => {
    expect(endStateFor({ verdict: "pass" })).toBe("sealed");
    expect(endStateFor({ verdict: "fail" })).toBe("drill-failed");
    expect(endStateFor({ verdict: "skipped" })).toBe("drill-skipped");
    expect(endStateFor(undefined)).toBe("uploaded");
    for (const end of ["sealed", "drill-failed", "drill-skipped"] as const) expect(canTransition("drilling", end)).toBe(true);
  });

  it("count only sealed jobs as the last sealed backup, never a drill-failed one", async () => {
    await runInDurableObject(backups("events"), async (o: DatabaseBackups) => {
      const now = Date.parse("2026-11-01T00:00:00Z");
      const walk = (to: JobState) => {
        const j = o.store.create("events", "manual", now, "test");
        let cur = j;
        for (const s of forwardPath("queued", "uploading")) cur = o.store.transition(cur, s, now, "t");
        cur = o.store.transition(cur, "drilling", now, "t");
        return o.store.transition(cur, to, now, "t");
      };
      const sealed = walk("sealed");
      walk("drill-failed");
      expect(o.store.lastSealed()?.id).toBe(sealed.id);
      expect(o.status(now).lastSealed?.jobId).toBe(sealed.id);
      expect(o.status(now).lastJob?.state).toBe("drill-failed");
    });
  });
});
