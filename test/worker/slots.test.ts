// JobSlots: at most `max` leases at once, renewals always succeed, releases and expired leases free a slot.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LEASE_MS, type JobSlots } from "../../src/do/job-slots.ts";

// Not the production "global" instance: the streamer tests hold slots there.
const slots = () => env.JOB_SLOTS.getByName("slots-test");

describe("JobSlots", () => {
  it("grants up to max slots, refuses the next, and frees one on release", async () => {
    expect(await slots().acquire("a", "job-a", 2)).toEqual({ granted: true, inUse: 1 });
    expect(await slots().acquire("b", "job-b", 2)).toEqual({ granted: true, inUse: 2 });
    expect(await slots().acquire("c", "job-c", 2)).toEqual({ granted: false, inUse: 2 });
    await slots().release("a");
    expect(await slots().acquire("c", "job-c", 2)).toEqual({ granted: true, inUse: 2 });
    expect((await slots().leases()).map((l) => l.holder)).toEqual(["b", "c"]);
  });

  it("renews a holder's lease even when the limit was lowered below what is in use", async () => {
    const before = (await slots().leases()).find((l) => l.holder === "b")!.expiresAt;
    await new Promise((r) => setTimeout(r, 5));
    expect(await slots().acquire("b", "job-b", 1)).toEqual({ granted: true, inUse: 2 });
    const after = (await slots().leases()).find((l) => l.holder === "b")!.expiresAt;
    expect(after).toBeGreaterThan(before);
    expect(after - Date.now()).toBeLessThanOrEqual(LEASE_MS);
  });

  it("reclaims a lease whose holder stopped renewing it", async () => {
    await runInDurableObject(slots(), (_o: JobSlots, state) => {
      state.storage.sql.exec("UPDATE leases SET expires_at = ? WHERE holder = 'c'", Date.now() - 1);
    });
    expect(await slots().acquire("d", "job-d", 2)).toEqual({ granted: true, inUse: 2 });
    expect((await slots().leases()).map((l) => l.holder)).toEqual(["b", "d"]);
  });
});
