// DatabaseBackups with the real streamer, PgDumpContainer's seam, PostgreSQL and Swift: backup, capacity, cancel, container loss.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DatabaseBackups } from "../../src/do/database-backups.ts";
import { META_CANCEL_REQUESTED, QUEUE_RETRY_MS, RETRY_BASE_DELAY_MS } from "../../src/do/job-driver.ts";
import { isTerminal } from "../../src/shared/contract/job-states.ts";
import type { JobView } from "../../src/do/rpc-types.ts";
import { concatBytes, toHex } from "../../src/shared/bytes.ts";
import { S3Client } from "../../src/shared/s3/s3.ts";
import { workersHashing } from "../../src/shared/web-hash.ts";
import { api, backups, secretValues, testWorkers, waitFor } from "./helpers.ts";

// Tests run in order: the streamer takes one job at a time. After the first, they move the object's
// clock by calling tick(now) themselves, so retries and backoffs do not cost real minutes.
const HOUR_MS = 3_600_000;
const slots = () => env.JOB_SLOTS.getByName("global");
const streamerUrl = () => String((env as unknown as Record<string, unknown>).STREAMER_URL);

async function collect(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  return concatBytes(parts);
}

function bucket(): S3Client {
  const t = testWorkers();
  return new S3Client({ ...t.s3, bucket: t.bucket, pathStyle: true }, workersHashing);
}

async function view(db: string, id: string): Promise<JobView> {
  const r = await backups(db).getJob(id);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

/** A job whose clock starts an hour ahead: real alarms stay out of the way, the test ticks. */
async function startParked(db: string): Promise<{ id: string; clock: { now: number } }> {
  const clock = { now: Date.now() + HOUR_MS };
  const r = await backups(db).startBackup({ trigger: "manual" }, clock.now);
  if (!r.ok) throw new Error(r.error.message);
  return { id: r.value.jobId, clock };
}

/**
 * Runs the object's alarm work at the job's next due time (its clock only moves forward) until
 * `done` holds. Real time passes between ticks (`pauseMs`): the streamer and pg_dump are real.
 */
async function tickUntil(db: string, id: string, clock: { now: number }, done: (j: JobView) => boolean, what: string, maxTicks = 60, pauseMs = 200): Promise<JobView> {
  for (let i = 0; i < maxTicks; i++) {
    clock.now = await runInDurableObject(backups(db), async (o: DatabaseBackups) => {
      const at = Math.max(clock.now + 1, o.store.get(id)?.notBefore ?? 0);
      await o.tick(at);
      return at;
    });
    const j = await view(db, id);
    if (done(j)) return j;
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  throw new Error(`job ${id} of ${db} never became ${what}: ${JSON.stringify(await view(db, id))}`);
}

async function streamerJob(streamerJobId: string): Promise<{ status: number; body: { state?: string } }> {
  const res = await fetch(`${streamerUrl()}/jobs/${streamerJobId}`);
  return { status: res.status, body: (await res.json()) as { state?: string } };
}

async function control(action: "down" | "up" | "restart"): Promise<void> {
  const res = await fetch(`${testWorkers().controlUrl}/streamer/${action}`, { method: "POST" });
  if (res.status !== 204) throw new Error(`streamer ${action}: HTTP ${res.status}`);
}

const states = (j: JobView) => j.events.map((e) => e.to);
const leaseHolders = async () => (await slots().leases()).map((l) => l.holder);

describe("backups with the real streamer", () => {
  it("back up the seed database through the API, drill it and end sealed, with progress and the sealed manifest in the bucket", async () => {
    const start = await api("/backups/app", { method: "POST" });
    expect(start.status).toBe(202);
    const done: JobView = await waitFor(
      "the backup to end",
      async () => {
        const r = await api(start.body.status_url);
        return isTerminal(r.body.state) ? r.body : undefined;
      },
      90_000,
      300,
    );
    expect(done.state, JSON.stringify(done.error)).toBe("sealed");
    expect(states(done)).toEqual(["queued", "starting", "dumping", "uploading", "drilling", "sealed"]);
    const manifest = done.manifest as { db: string; status: string; artifact: { key: string; bytes: number; sha256: string; parts: number } };
    expect(manifest).toMatchObject({ db: "app", status: "sealed", artifact: { key: done.artifactKey } });
    expect(done.drill).toMatchObject({ verdict: "pass", target: "local-cluster" });
    expect(done.drillRecord?.comparison?.tables.every((t) => t.actual === t.expected)).toBe(true);
    // The last poll's progress is the streamer's final count: every byte it uploaded is in the bucket.
    expect(done.progress).toMatchObject({ bytesUploaded: manifest.artifact.bytes, partsUploaded: manifest.artifact.parts });

    const stored = await collect((await bucket().get(done.artifactKey!)).body);
    expect(stored.length).toBe(manifest.artifact.bytes);
    expect(toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", stored as Uint8Array<ArrayBuffer>)))).toBe(manifest.artifact.sha256);
    const storedManifest = new TextDecoder().decode(await collect((await bucket().get(done.manifestKey!)).body));
    expect(JSON.parse(storedManifest)).toEqual(done.manifest);

    const status = await backups("app").status();
    expect(status.lastBackup).toMatchObject({ jobId: done.id, state: "sealed", artifactKey: done.artifactKey });
    expect(status.lastSealed).toMatchObject({ jobId: done.id, drill: { verdict: "pass" } });
    expect(status.activeJob).toBeNull();
    expect(await leaseHolders()).not.toContain("app");
    const text = JSON.stringify(done);
    for (const secret of secretValues()) expect(text).not.toContain(secret);
  });

  it("keep a job queued, without an error, while every container slot is taken, and start it when one frees (drills off: it ends uploaded)", async () => {
    await slots().acquire("other-1", "elsewhere", 2);
    await slots().acquire("other-2", "elsewhere", 2);
    const { id, clock } = await startParked("queued");
    try {
      for (let i = 0; i < 2; i++) {
        await runInDurableObject(backups("queued"), (o: DatabaseBackups) => o.tick(clock.now));
        const j = await view("queued", id);
        expect(j.state).toBe("queued");
        expect(j.error).toBeNull();
        expect(states(j)).toEqual(["queued"]);
        clock.now += QUEUE_RETRY_MS;
      }
    } finally {
      await slots().release("other-1");
      await slots().release("other-2");
    }
    const done = await tickUntil("queued", id, clock, (j) => isTerminal(j.state), "finished");
    expect(done.state, JSON.stringify(done.error)).toBe("uploaded");
    expect(states(done)).toEqual(["queued", "starting", "dumping", "uploading", "uploaded"]);
    expect(await leaseHolders()).not.toContain("queued");
  });

  it("cancel a running job: the streamer stops pg_dump, writes no manifest, and the slot is freed", async () => {
    const { id, clock } = await startParked("cancelme");
    const running = await tickUntil("cancelme", id, clock, (j) => j.state === "dumping", "dumping");
    expect(await leaseHolders()).toContain("cancelme");
    // The poll stored the streamer's progress: its preflight measured the source, nothing is uploaded yet.
    expect(running.progress).toMatchObject({ bytesUploaded: 0, partsUploaded: 0, sourceBytes: expect.any(Number) });
    expect(running.progress!.sourceBytes).toBeGreaterThan(0);
    const r = await backups("cancelme").cancel(id, clock.now);
    expect(r).toEqual({ ok: true, value: { jobId: id, state: "cancelled" } });
    const j = await view("cancelme", id);
    // DELETE answered once the streamer had stopped: its own end is what the job records.
    expect(j.events.at(-1)).toMatchObject({ from: "dumping", to: "cancelled", detail: expect.stringContaining("the streamer reports the job cancelled") });
    expect((await streamerJob(`${id}-a1`)).body.state).toBe("cancelled");
    expect(await leaseHolders()).not.toContain("cancelme");
    const keys: string[] = [];
    for await (const o of bucket().list("workers/cancelme/")) keys.push(o.key);
    expect(keys.filter((k) => k.endsWith(".manifest.json"))).toEqual([]);
  });

  it("end the running attempt with CONTAINER_LOST when the container reports a stop, and retry as a new attempt", async () => {
    const { id, clock } = await startParked("cancelme");
    await tickUntil("cancelme", id, clock, (j) => j.state === "dumping", "dumping");
    // The stop of a container that had taken another job (reported late, during a later start) leaves this attempt alone.
    expect(await backups("cancelme").containerEvent({ kind: "stop", detail: "exit code 0", jobId: "earlier-job-a1" }, clock.now)).toEqual({ handled: "other-attempt" });
    expect((await view("cancelme", id)).state).toBe("dumping");
    expect(await backups("cancelme").containerEvent({ kind: "stop", detail: "exit code 137" }, clock.now)).toEqual({ handled: "attempt-ended" });
    const retrying = await view("cancelme", id);
    expect(retrying).toMatchObject({ state: "queued", attempt: 2 });
    expect(retrying.events.at(-1)!.detail).toBe(`attempt 1/3 failed with CONTAINER_LOST: the container stopped while the job was dumping: exit code 137; retrying in ${RETRY_BASE_DELAY_MS / 1000} s`);
    // The first attempt still waits in the (real, still running) streamer: the retry finds it busy,
    // cancels that older attempt of its own job, and starts once the streamer is free.
    const second = await tickUntil("cancelme", id, clock, (j) => j.attempt === 2 && j.state === "dumping", "dumping again");
    expect(second.events.some((e) => e.detail === `the streamer is busy with ${id}-a1; asking again in 10 s`)).toBe(true);
    expect((await streamerJob(`${id}-a1`)).body.state).toBe("cancelled");
    expect((await backups("cancelme").cancel(id, clock.now)).ok).toBe(true);
    await waitFor("the streamer to finish cancelling", async () => ((await streamerJob(`${id}-a2`)).body.state === "cancelled" ? true : undefined));
  });

  it("end the attempt with CONTAINER_LOST when a replaced container no longer knows the job", async () => {
    const { id, clock } = await startParked("cancelme");
    await tickUntil("cancelme", id, clock, (j) => j.state === "dumping", "dumping");
    await control("restart");
    const lost = await tickUntil("cancelme", id, clock, (j) => j.attempt === 2, "retried");
    expect(lost.state).toBe("queued");
    expect(lost.events.at(-1)!.detail).toBe(`attempt 1/3 failed with CONTAINER_LOST: the streamer does not know job ${id}-a1: the container was replaced; retrying in ${RETRY_BASE_DELAY_MS / 1000} s`);
    expect(await leaseHolders()).not.toContain("cancelme");
    expect((await backups("cancelme").cancel(id, clock.now)).ok).toBe(true);
  });

  it("fail with CONTAINER_LOST after the streamer stops answering, once every attempt is used", async () => {
    const { id, clock } = await startParked("lost");
    await tickUntil("lost", id, clock, (j) => j.state === "dumping", "dumping");
    await control("down");
    let failed: JobView;
    try {
      failed = await tickUntil("lost", id, clock, (j) => isTerminal(j.state), "failed");
    } finally {
      await control("up");
    }
    expect(failed.state).toBe("failed");
    expect(failed.attempt).toBe(3);
    expect(failed.error).toMatchObject({ code: "CONTAINER_LOST", retryable: true });
    const details = failed.events.map((e) => e.detail ?? "");
    expect(details.filter((d) => /^attempt \d\/3 failed with CONTAINER_LOST/.test(d)).length).toBe(2);
    expect(details.some((d) => d.includes("no answer from the streamer for 3 polls"))).toBe(true);
    expect(await leaseHolders()).not.toContain("lost");
    // The first attempt's pg_dump still waits on the lock inside the streamer: stop it, so nothing outlives the test.
    expect((await fetch(`${streamerUrl()}/jobs/${id}-a1`, { method: "DELETE" })).status).toBe(202);
    await waitFor("the orphan to be cancelled", async () => ((await streamerJob(`${id}-a1`)).body.state === "cancelled" ? true : undefined));
  });
});

/** One alarm step of `db` at exactly `at` (a jump of the object's clock). */
async function tickAt(db: string, at: number): Promise<void> {
  await runInDurableObject(backups(db), (o: DatabaseBackups) => o.tick(at));
}

/** The webhook alerts the Worker sent for one job. */
async function alertsFor(jobId: string): Promise<{ event: string; code?: string; state: string }[]> {
  const hooks = (await (await fetch(`${testWorkers().controlUrl}/hooks`)).json()) as { body: { pgseal?: { jobId?: string; event: string; code?: string; state: string } } | null }[];
  return hooks.map((h) => h.body?.pgseal).filter((p) => p?.jobId === jobId) as { event: string; code?: string; state: string }[];
}

describe("every job ends on its own (a table lock held for the whole run)", () => {
  it("fail a job whose progress has not moved for stallTimeoutMinutes with JOB_STALLED: alert sent, streamer job stopped, slot freed, next scheduled run kept", async () => {
    const { id, clock } = await startParked("stall");
    const nextRunAt = (await backups("stall").status(clock.now)).nextRunAt;
    expect(nextRunAt).not.toBeNull();
    await tickUntil("stall", id, clock, (j) => j.state === "dumping", "dumping");
    // Four minutes without a byte: still running (the limit is five).
    clock.now += 4 * 60_000;
    await tickAt("stall", clock.now);
    expect((await view("stall", id)).state).toBe("dumping");
    clock.now += 60_000 + 1;
    await tickAt("stall", clock.now);
    const j = await view("stall", id);
    expect(j.state).toBe("failed");
    expect(j.error).toMatchObject({ code: "JOB_STALLED", retryable: false });
    expect(j.error!.message).toContain("stallTimeoutMinutes");
    expect(await leaseHolders()).not.toContain("stall");
    await waitFor("the streamer to stop the stalled job", async () => ((await streamerJob(`${id}-a1`)).body.state === "cancelled" ? true : undefined));
    await waitFor("the failure alert", async () => ((await alertsFor(id)).some((a) => a.event === "backup-failed" && a.code === "JOB_STALLED") ? true : undefined), 10_000);
    const status = await backups("stall").status(clock.now);
    expect(status.activeJob).toBeNull();
    expect(status.nextRunAt).toBe(nextRunAt);
  });

  it("fail a job that runs longer than maxRunHours with JOB_TIMEOUT, distinct from a stall, and free its slot", async () => {
    const { id, clock } = await startParked("overrun");
    await tickUntil("overrun", id, clock, (j) => j.state === "dumping", "dumping");
    clock.now += 59 * 60_000;
    await tickAt("overrun", clock.now);
    expect((await view("overrun", id)).state).toBe("dumping");
    clock.now += 60_000 + 1;
    await tickAt("overrun", clock.now);
    const j = await view("overrun", id);
    expect(j.state).toBe("failed");
    expect(j.error).toMatchObject({ code: "JOB_TIMEOUT", retryable: false });
    expect(j.error!.message).toContain("maxRunHours");
    expect(await leaseHolders()).not.toContain("overrun");
    await waitFor("the streamer to stop the overrunning job", async () => ((await streamerJob(`${id}-a1`)).body.state === "cancelled" ? true : undefined));
    expect((await backups("overrun").status(clock.now)).nextRunAt).not.toBeNull();
  });

  it("give up waiting for a held table lock after lockWaitTimeoutSeconds: pg_dump ends PG_LOCK_TIMEOUT, retried, then failed", async () => {
    const { id, clock } = await startParked("locked");
    const j = await tickUntil("locked", id, clock, (v) => isTerminal(v.state), "failed", 120);
    expect(j.state, JSON.stringify(j.error)).toBe("failed");
    expect(j.error).toMatchObject({ code: "PG_LOCK_TIMEOUT", retryable: true });
    expect(j.attempt).toBe(3);
    expect(j.error).toMatchObject({ code: "PG_LOCK_TIMEOUT", retryable: true });
    expect(j.events.filter((e) => (e.detail ?? "").includes("failed with PG_LOCK_TIMEOUT")).length).toBe(2);
    expect(await leaseHolders()).not.toContain("locked");
  });
});

describe("cancels tell the truth", () => {
  const keysUnder = async (prefix: string) => {
    const keys: string[] = [];
    for await (const o of bucket().list(prefix)) keys.push(o.key);
    return keys.sort();
  };

  it("cancel while drilling: the uploaded artifact and its manifest are removed, the job ends cancelled, and nothing restorable is left", async () => {
    const before = await keysUnder("workers/app/");
    const { id, clock } = await startParked("app");
    // Short pauses: the cancel must land inside the drill, which is mostly initdb (a second or two), so it
    // must not wait up to a pause after the drill began. Same real-time budget as 200 ticks of 200 ms.
    await tickUntil("app", id, clock, (j) => j.state === "drilling", "drilling", 800, 50);
    const r = await backups("app").cancel(id, clock.now);
    expect(r).toEqual({ ok: true, value: { jobId: id, state: "cancelled" } });
    const j = await view("app", id);
    expect(j.state).toBe("cancelled");
    expect(j.events.at(-1)!.detail).toMatch(/cancelled after the upload: .* and its manifest were removed/);
    expect(await keysUnder("workers/app/")).toEqual(before);
    const uploads: string[] = [];
    for await (const u of bucket().listMultipartUploads("workers/app/")) uploads.push(u.key);
    expect(uploads).toEqual([]);
    expect(await leaseHolders()).not.toContain("app");
  });
});

describe("open uploads are owned", () => {
  it("a job that ended with an upload it could not abort shows it in the database's status until a later job ends", async () => {
    const open = [{ destination: "swift", key: "workers/uploads/2026/11/uploads_20261129T000000Z.dump.zst.pgseal", uploadId: "u-1" }];
    const now = Date.now() + 2 * HOUR_MS;
    const status = await runInDurableObject(backups("uploads"), (o: DatabaseBackups) => {
      const job = o.store.create("uploads", "manual", now, "test");
      const started = o.store.transition(job, "starting", now, "test");
      o.store.transition(started, "failed", now, "S3_UNAVAILABLE: test", {
        progress: { bytesDumped: 1, bytesCompressed: 1, bytesEncrypted: 1, bytesUploaded: 0, partsUploaded: 1, elapsedMs: 1, openUploads: open },
        error: { code: "S3_UNAVAILABLE", message: "test", retryable: true },
      });
      return o.status(now);
    });
    expect(status.openUploads).toEqual(open);
  });
});

describe("capacity", () => {
  it("a released slot wakes the next queued job at once, not at its next 30 s retry", async () => {
    await slots().acquire("other-1", "elsewhere", 2);
    await slots().acquire("other-2", "elsewhere", 2);
    let id: string;
    try {
      // Real time here: the job's own alarm finds no slot and waits QUEUE_RETRY_MS.
      const r = await backups("queued").startBackup({ trigger: "manual" });
      if (!r.ok) throw new Error(r.error.message);
      id = r.value.jobId;
      await waitFor(
        "the job to find every slot taken",
        async () => {
          const j = await runInDurableObject(backups("queued"), (o: DatabaseBackups) => o.store.get(id));
          return j?.state === "queued" && j.notBefore > Date.now() + 10_000 ? true : undefined;
        },
        10_000,
      );
    } finally {
      await slots().release("other-1");
      await slots().release("other-2");
    }
    const released = Date.now();
    await waitFor("the job to start", async () => ((await view("queued", id!)).state !== "queued" ? true : undefined), 10_000, 100);
    expect(Date.now() - released).toBeLessThan(QUEUE_RETRY_MS / 3);
    await waitFor("the job to end", async () => (isTerminal((await view("queued", id!)).state) ? true : undefined), 60_000);
  });
});

describe("a cancel the streamer had not finished when DELETE answered", () => {
  it("ends the job cancelled, not retried, if the container is lost before its end is seen", async () => {
    const now = Date.now() + 3 * HOUR_MS;
    const r = await runInDurableObject(backups("uploads"), async (o: DatabaseBackups) => {
      const job = o.store.create("uploads", "manual", now, "test");
      const started = o.store.transition(job, "starting", now, "test", { streamerJobId: `${job.id}-a1` });
      o.store.transition(started, "dumping", now, "test");
      o.store.setMeta(META_CANCEL_REQUESTED, job.id);
      const handled = await o.containerEvent({ kind: "stop", detail: "exit code 137" }, now + 1);
      return { handled, job: o.store.get(job.id)! };
    });
    expect(r.handled).toEqual({ handled: "attempt-ended" });
    expect(r.job.state).toBe("cancelled");
    expect(r.job.attempt).toBe(1);
  });
});
