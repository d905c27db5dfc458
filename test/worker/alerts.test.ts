// Stale alerts from DatabaseBackups: the watchdog's tick announces a database without a fresh sealed backup, once a day at most.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { DatabaseBackups } from "../../src/do/database-backups.ts";
import { forwardPath } from "../../src/shared/contract/job-states.ts";
import { backups, testWorkers } from "./helpers.ts";

const HOUR_MS = 3_600_000;

async function staleAlerts(): Promise<{ at: string; lastSealedAt: string | null }[]> {
  const res = await fetch(`${testWorkers().controlUrl}/hooks`);
  const hooks = (await res.json()) as { body: { pgseal?: { event: string; db: string; at: string; lastSealedAt: string | null } } }[];
  return hooks
    .map((h) => h.body?.pgseal)
    .filter((p) => p?.event === "stale" && p.db === "stale")
    .map((p) => ({ at: p!.at, lastSealedAt: p!.lastSealedAt }));
}

describe("stale alerts", () => {
  it("announce a database whose last sealed backup is older than maxAgeHours, then stay quiet for a day", async () => {
    const t0 = Date.parse("2026-06-01T00:00:00Z");
    await runInDurableObject(backups("stale"), async (o: DatabaseBackups) => {
      let job = o.store.create("stale", "manual", t0, "test");
      for (const s of forwardPath("queued", "uploading")) job = o.store.transition(job, s, t0, "t");
      job = o.store.transition(job, "drilling", t0, "t");
      o.store.transition(job, "sealed", t0, "t");
      await o.ensureArmed(t0 + 23 * HOUR_MS);
    });
    expect(await staleAlerts()).toEqual([]);
    await runInDurableObject(backups("stale"), (o: DatabaseBackups) => o.ensureArmed(t0 + 25 * HOUR_MS));
    expect(await staleAlerts()).toEqual([{ at: new Date(t0 + 25 * HOUR_MS).toISOString(), lastSealedAt: new Date(t0).toISOString() }]);
    await runInDurableObject(backups("stale"), (o: DatabaseBackups) => o.ensureArmed(t0 + 30 * HOUR_MS));
    expect(await staleAlerts()).toHaveLength(1);
    await runInDurableObject(backups("stale"), (o: DatabaseBackups) => o.ensureArmed(t0 + 50 * HOUR_MS));
    expect(await staleAlerts()).toHaveLength(2);
  });
});
