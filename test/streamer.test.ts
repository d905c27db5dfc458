// The streamer's HTTP contract (docs/STREAMER-API.md) against the real process, real PostgreSQL and a real Swift.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { parseManifest } from "../src/shared/catalog/manifest.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { sleep } from "./harness/registry.ts";
import { startSlowProxy, type SlowProxy } from "./harness/slow-proxy.ts";
import { spawnStreamer, type StreamerProcess } from "./harness/streamer.ts";
import { freshBucket } from "./harness/use-s3.ts";

const SEED_SQL = new URL("./fixtures/seed.sql", import.meta.url).pathname;
/** ~16 MB of md5 text: ~9 MB after zstd, so the upload needs a multipart upload of 5 MiB parts. */
const BULK_ROWS = 400_000;
const PART_SIZE_BYTES = 5 * 1024 * 1024;
/** A 5 MiB part then takes ~5 s: a wide window to act while the upload runs. */
const SLOW_UPLOAD_BYTES_PER_SECOND = 1024 * 1024;
/** The drill reads the bulk artifact (~15 MB) back for ~7 s: a wide window to act while it drills. */
const SLOW_DOWNLOAD_BYTES_PER_SECOND = 2 * 1024 * 1024;
const POLL_MS = 50;
const WAIT_MS = 60_000;
/** pg_dump dies on SIGTERM at once; this only covers the signal's and the reaping's latency. */
const PG_DUMP_EXIT_MS = 5_000;
const KEY = generateKey("strm");

let pg: PgCluster;
let target: S3Target;
let bucket: S3Client;
let slow: SlowProxy;
let slowDown: SlowProxy;
let streamer: StreamerProcess;
let releaseLock: () => Promise<void>;
const urls: Record<"seeded" | "bulk" | "held", string> = { seeded: "", bulk: "", held: "" };

beforeAll(async () => {
  pg = await startPostgres({ name: "streamer" });
  urls.seeded = await pg.createDatabase("seeded");
  await pg.psqlFile(SEED_SQL, "seeded");
  urls.bulk = await pg.createDatabase("bulk");
  await pg.psql(`CREATE TABLE bulk AS SELECT i AS id, md5(i::text) || md5((-i)::text) AS v FROM generate_series(1, ${BULK_ROWS}) AS i;`, "bulk");
  urls.held = await pg.createDatabase("held");
  releaseLock = await holdLock(pg, "held");
  target = await freshBucket("streamer");
  bucket = new S3Client(target, nodeHashing);
  slow = await startSlowProxy(target.endpoint, { bytesPerSecond: SLOW_UPLOAD_BYTES_PER_SECOND });
  slowDown = await startSlowProxy(target.endpoint, { bytesPerSecond: SLOW_DOWNLOAD_BYTES_PER_SECOND, direction: "down" });
  streamer = await spawnStreamer();
});

afterAll(async () => {
  await streamer?.stop();
  await slow?.stop();
  await slowDown?.stop();
  await releaseLock?.();
  await pg?.stop();
});

/** A session holding ACCESS EXCLUSIVE on t until released: pg_dump starts, then waits for it. */
async function holdLock(cluster: PgCluster, db: string): Promise<() => Promise<void>> {
  await cluster.psql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);", db);
  const psql = spawn(cluster.tools.psql, cluster.psqlArgs(db), { stdio: ["pipe", "ignore", "ignore"] });
  psql.stdin.write("BEGIN;\nLOCK TABLE t IN ACCESS EXCLUSIVE MODE;\n");
  const granted = "SELECT count(*) FROM pg_locks WHERE relation = 't'::regclass AND mode = 'AccessExclusiveLock' AND granted";
  await until("the lock on t", async () => (await cluster.psql(granted, db)) === "1");
  return async () => {
    psql.stdin.end(); // ends the session: the transaction rolls back and the lock goes
    if (psql.exitCode === null) await new Promise((r) => psql.once("exit", r));
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

function jobRequest(jobId: string, db: keyof typeof urls, over: { endpoint?: string; prefix?: string; databaseUrl?: string } = {}) {
  return {
    jobId,
    kind: "backup",
    db,
    databaseUrl: over.databaseUrl ?? urls[db],
    destination: { ...target, endpoint: over.endpoint ?? target.endpoint, pathStyle: true },
    prefix: over.prefix ?? jobId,
    keyring: KEY.entry,
    compression: "zstd",
    partSizeBytes: PART_SIZE_BYTES,
  };
}

interface Answer {
  status: number;
  body: any;
  text: string;
}

async function call(s: StreamerProcess, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${s.url}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

const finished = (s: StreamerProcess, jobId: string) =>
  until(`job ${jobId} to end`, async () => {
    const r = await call(s, "GET", `/jobs/${jobId}`);
    return r.body.state !== "running" ? r : undefined;
  });

/** The test run's secrets in every form they could leak in. */
function expectNoSecrets(text: string): void {
  for (const secret of [pg.password, target.secretAccessKey, KEY.entry, KEY.entry.slice(KEY.entry.indexOf(":") + 1)]) expect(text).not.toContain(secret);
}

/** Live (not zombie) pg_dump processes whose parent is the streamer. */
function pgDumpChildren(parentPid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (comm === "pg_dump" && Number(ppid) === parentPid && state !== "Z") pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

async function uploadsUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const u of bucket.listMultipartUploads(`${prefix}/`)) keys.push(u.key);
  return keys;
}

async function objectsUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of bucket.list(`${prefix}/`)) keys.push(o.key);
  return keys;
}

describe("the streamer process with real PostgreSQL and Swift", () => {
  it("runs a backup to the end: POST answers 202, GET shows progress and the result, and the manifest is in the bucket", async () => {
    const post = await call(streamer, "POST", "/jobs", jobRequest("full-1", "seeded"));
    expect(post).toMatchObject({ status: 202, body: { jobId: "full-1", statusUrl: "/jobs/full-1" } });
    const done = await finished(streamer, "full-1");
    expect(done.body.error).toBeUndefined();
    expect(done.body).toMatchObject({ jobId: "full-1", state: "succeeded", phase: "done" });
    const { progress, result } = done.body;
    expect(progress.bytesDumped).toBeGreaterThan(0);
    expect(progress.bytesUploaded).toBe(result.manifest.artifact.bytes);
    expect(progress.sourceBytes).toBeGreaterThan(0);
    expect(Date.parse(done.body.endedAt)).toBeGreaterThanOrEqual(Date.parse(done.body.startedAt));

    expect(result.manifestKey).toMatch(/^full-1\/seeded\/\d{4}\/\d{2}\/seeded_\d{8}T\d{6}Z\.manifest\.json$/);
    const stored = parseManifest(await new Response((await bucket.get(result.manifestKey)).body).text(), result.manifestKey);
    expect(stored).toEqual(result.manifest);
    expect(stored).toMatchObject({ db: "seeded", status: "uploaded", artifact: { key: result.artifactKey }, encryption: { keyId: "strm" } });
    expect((await bucket.head(result.artifactKey))?.size).toBe(stored.artifact.bytes);

    // The status can answer before the test has read the log line written just before it: wait for that line.
    await streamer.waitForEvent((e) => e.jobId === "full-1" && e.event === "job.end");
    const log = streamer.events().filter((e) => e.jobId === "full-1");
    expect(log.map((e) => e.event)).toEqual(["job.start", "job.phase", "job.phase", "job.phase", "job.end"]);
    expect(log.at(-1)).toMatchObject({ state: "succeeded", manifestKey: result.manifestKey, bytesUploaded: stored.artifact.bytes });
    expectNoSecrets(post.text + done.text + streamer.output());
  });

  it("answers a retried POST of a finished job with its status and starts nothing", async () => {
    expect((await call(streamer, "POST", "/jobs", jobRequest("retry-1", "seeded"))).status).toBe(202);
    const done = await finished(streamer, "retry-1");
    const again = await call(streamer, "POST", "/jobs", jobRequest("retry-1", "seeded"));
    expect(again.status).toBe(200);
    expect(again.body).toEqual(done.body);
    expect(streamer.events().filter((e) => e.jobId === "retry-1" && e.event === "job.start")).toHaveLength(1);
    expect(await objectsUnder("retry-1")).toHaveLength(2); // one artifact and its manifest
  });

  it("refuses a second job while one runs with 409 naming the active job, and answers a retry of the running one with its status", async () => {
    expect((await call(streamer, "POST", "/jobs", jobRequest("busy-1", "held"))).status).toBe(202);
    // The phase too: preflight's `pg_dump --version` is a pg_dump child of its own (see the cancel test below).
    await until("pg_dump to wait on the lock", async () => pgDumpChildren(streamer.pid).length === 1 && (await call(streamer, "GET", "/jobs/busy-1")).body.phase === "dumping");
    const second = await call(streamer, "POST", "/jobs", jobRequest("busy-2", "seeded"));
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({ code: "STREAMER_BUSY", activeJobId: "busy-1" });
    const retry = await call(streamer, "POST", "/jobs", jobRequest("busy-1", "held"));
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ jobId: "busy-1", state: "running", phase: "dumping" });
    expect((await call(streamer, "GET", "/health")).body).toMatchObject({ ok: true, activeJobId: "busy-1", pgDump: expect.stringMatching(/^\d+/) });
    expect((await call(streamer, "GET", "/jobs/busy-2")).status).toBe(404);

    expect((await call(streamer, "DELETE", "/jobs/busy-1")).status).toBe(202);
    expect((await finished(streamer, "busy-1")).body.state).toBe("cancelled");
    expect((await call(streamer, "GET", "/health")).body.activeJobId).toBeUndefined();
  });

  it("cancels a job while pg_dump runs: DELETE answers 202, pg_dump is stopped and the job ends cancelled", async () => {
    expect((await call(streamer, "POST", "/jobs", jobRequest("cancel-dump", "held"))).status).toBe(202);
    // The phase too: tool discovery runs `pg_dump --version` during preflight, a pg_dump child of its own.
    await until("pg_dump to wait on the lock", async () => pgDumpChildren(streamer.pid).length === 1 && (await call(streamer, "GET", "/jobs/cancel-dump")).body.phase === "dumping");
    const del = await call(streamer, "DELETE", "/jobs/cancel-dump");
    expect(del).toMatchObject({ status: 202, body: { jobId: "cancel-dump", state: "cancelling" } });
    const done = await finished(streamer, "cancel-dump");
    expect(done.body).toMatchObject({ state: "cancelled", phase: "dumping", error: { code: "CANCELLED", retryable: false } });
    // The job may report its end a moment before the killed pg_dump has exited.
    await until("pg_dump to exit", async () => pgDumpChildren(streamer.pid).length === 0, PG_DUMP_EXIT_MS);
    expect(await objectsUnder("cancel-dump")).toEqual([]);
  });

  it("cancels a job mid-upload: the multipart upload is aborted and neither manifest nor artifact is left", async () => {
    expect((await call(streamer, "POST", "/jobs", jobRequest("cancel-up", "bulk", { endpoint: slow.url }))).status).toBe(202);
    const [key] = await until("the multipart upload to start", async () => {
      const keys = await uploadsUnder("cancel-up");
      return keys.length > 0 ? keys : undefined;
    });
    expect(key).toMatch(/\.dump\.zst\.pgseal$/);
    // Progress is reported every 250 ms while bytes flow: on a fast machine the first part can fill between
    // two reports, so wait for a report past it (the upload at 1 MiB/s keeps the job running for seconds).
    const running = await until("progress past the first part", async () => {
      const r = await call(streamer, "GET", "/jobs/cancel-up");
      return r.body.state !== "running" || r.body.progress.bytesDumped > PART_SIZE_BYTES ? r : undefined;
    });
    expect(running.body.state).toBe("running");
    expect(running.body.progress.bytesDumped).toBeGreaterThan(PART_SIZE_BYTES);

    expect((await call(streamer, "DELETE", "/jobs/cancel-up")).status).toBe(202);
    const done = await finished(streamer, "cancel-up");
    expect(done.body).toMatchObject({ state: "cancelled", error: { code: "CANCELLED" } });
    expect(done.body.result).toBeUndefined();
    expect(await uploadsUnder("cancel-up")).toEqual([]);
    expect(await objectsUnder("cancel-up")).toEqual([]);
    const again = await call(streamer, "DELETE", "/jobs/cancel-up");
    expect(again).toMatchObject({ status: 409, body: { error: { code: "JOB_NOT_ACTIVE", state: "cancelled" } } });
  });

  it("cancels a job while it drills, after the upload finished: artifact and manifest are removed, and restore --name finds nothing to restore", async () => {
    // A drill is mostly initdb: a second or two, which the poll and the bucket listing below could outlast on a
    // fast or loaded machine. Reading the bulk artifact back through a slow link holds it in the drill for seconds.
    expect((await call(streamer, "POST", "/jobs", { ...jobRequest("cancel-drill", "bulk", { endpoint: slowDown.url }), drill: { mode: "local" } })).status).toBe(202);
    await until("the drill to start", async () => ((await call(streamer, "GET", "/jobs/cancel-drill")).body.phase === "drilling" ? true : undefined));
    expect((await objectsUnder("cancel-drill")).length).toBe(2); // the upload is complete: artifact and `uploaded` manifest
    expect((await call(streamer, "DELETE", "/jobs/cancel-drill")).status).toBe(202);
    const done = await finished(streamer, "cancel-drill");
    expect(done.body).toMatchObject({ state: "cancelled", phase: "drilling", error: { code: "CANCELLED" } });
    expect(done.body.error.message).toMatch(/cancelled after the upload: .* and its manifest were removed$/);
    expect(await objectsUnder("cancel-drill")).toEqual([]);
    expect(await uploadsUnder("cancel-drill")).toEqual([]);
    const restore = await pgseal(["restore", "--name", "bulk", "--prefix", "cancel-drill", "--target", await pg.createDatabase("cancel_drill_target")], pgsealEnv(target, KEY.entry));
    expect(restore.code).not.toBe(0);
    expect(restore.stderr).toContain("ARTIFACT_NOT_FOUND");
  });

  it("answers a bad request with 400 naming every bad field, and quotes none of its secrets", async () => {
    const fake = { password: "pw-not-for-logs-8f3k2", secret: "s3-secret-not-for-logs-71xq", key: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg" };
    const body = {
      jobId: "no spaces allowed",
      kind: "restore",
      db: "ok-db",
      databaseUrl: `mysql://user:${fake.password}@db.example/app`,
      destination: { endpoint: "s3.example.com", bucket: "", region: "auto", accessKeyId: "AKIA", secretAccessKey: fake.secret, pathStyle: "yes" },
      prefix: "p",
      keyring: `k1:${fake.key}`, // 31 bytes: one short
      compression: "lz4",
      level: 3,
      partSizeBytes: 1024,
      concurrency: 8,
      drill: { mode: "scratch", scratchUrl: `postgres://drill:${fake.password}@` },
      copies: [{ endpoint: "https://b2.example", bucket: "b", region: "r", accessKeyId: "a", secretAccessKey: fake.secret, objectLock: { mode: "FOREVER", days: 0 } }],
    };
    const r = await call(streamer, "POST", "/jobs", body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("BAD_REQUEST");
    const fields = r.body.error.fields.map((f: { field: string }) => f.field);
    expect(fields.sort()).toEqual(
      [
        "concurrency",
        "jobId",
        "kind",
        "databaseUrl",
        "destination.endpoint",
        "destination.bucket",
        "destination.pathStyle",
        "keyring",
        "compression",
        "partSizeBytes",
        "drill.scratchUrl",
        "copies[0].objectLock",
        "copies[0].name",
      ].sort(),
    );
    for (const f of fields) expect(r.body.error.message).toContain(`${f}:`);
    expect(r.body.error.message).toMatch(/keyring: keyring entry 1 \(id 'k1'\) decodes to 31 bytes/);
    for (const secret of Object.values(fake)) {
      expect(r.text).not.toContain(secret);
      expect(streamer.output()).not.toContain(secret);
    }
    const notJson = await fetch(`${streamer.url}/jobs`, { method: "POST", body: `{"jobId": "x", "keyring": "k1:${fake.key}"` });
    expect(notJson.status).toBe(400);
    const notJsonText = await notJson.text();
    expect(JSON.parse(notJsonText).error).toMatchObject({ code: "BAD_REQUEST", fields: [{ field: "body" }] });
    expect(notJsonText).not.toContain(fake.key);
  });

  it("answers 404 JOB_NOT_FOUND to GET and DELETE of a job it never ran", async () => {
    for (const method of ["GET", "DELETE"]) {
      const r = await call(streamer, method, "/jobs/never-ran");
      expect(r).toMatchObject({ status: 404, body: { error: { code: "JOB_NOT_FOUND" } } });
    }
  });

  it("fails a job whose database password is wrong with PG_AUTH_FAILED, keeping the password out of status and log", async () => {
    const wrong = new URL(urls.seeded);
    wrong.password = "wrong-password-hunter2";
    expect((await call(streamer, "POST", "/jobs", jobRequest("bad-auth", "seeded", { databaseUrl: wrong.toString() }))).status).toBe(202);
    const done = await finished(streamer, "bad-auth");
    expect(done.body).toMatchObject({ state: "failed", phase: "preflight", error: { code: "PG_AUTH_FAILED", retryable: false } });
    expect(done.body.error.message).toContain("pgseal_test:***@");
    expect(await streamer.waitForEvent((e) => e.jobId === "bad-auth" && e.event === "job.end")).toMatchObject({ state: "failed", code: "PG_AUTH_FAILED" });
    for (const text of [done.text, streamer.output()]) expect(text).not.toContain("wrong-password-hunter2");
    expectNoSecrets(streamer.output());
  });

  it("on SIGTERM cancels the running job, aborts its upload and exits 0", async () => {
    const own = await spawnStreamer();
    try {
      expect((await call(own, "POST", "/jobs", jobRequest("sigterm", "bulk", { endpoint: slow.url }))).status).toBe(202);
      await until("the multipart upload to start", async () => (await uploadsUnder("sigterm")).length > 0);
    } finally {
      expect(await own.stop()).toBe(0);
    }
    expect(own.events().find((e) => e.event === "job.end")).toMatchObject({ jobId: "sigterm", state: "cancelled", code: "CANCELLED" });
    expect(own.events().at(-1)).toMatchObject({ event: "streamer.stopped" });
    expect(await uploadsUnder("sigterm")).toEqual([]);
    expect(await objectsUnder("sigterm")).toEqual([]);
    expectNoSecrets(own.output());
  });
});
