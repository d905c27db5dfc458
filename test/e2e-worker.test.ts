// End to end through the Worker's HTTP API from plain Node: wrangler.jsonc run locally, the seam to a real streamer, PostgreSQL and Swift.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStreamer, type Streamer } from "../container/src/server.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { fingerprint, tableCounts } from "./harness/compare.ts";
import { holdLock } from "./harness/held-lock.ts";
import { parseOpenMetrics } from "./harness/openmetrics-parse.ts";
import { startLocalWorker, type ApiJob, type LocalWorker } from "./harness/local-worker.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { startSlowProxy, type SlowProxy } from "./harness/slow-proxy.ts";
import { freshBucket } from "./harness/use-s3.ts";
import { isActiveJobState } from "../src/shared/contract/job-states.ts";

const SEED_SQL = new URL("./fixtures/seed.sql", import.meta.url).pathname;
const JOB_DEADLINE_MS = 90_000;
/** Slow enough that an 8 MiB part takes seconds: the cancel lands while the upload is open. */
const SLOW_UPLOAD_BYTES_PER_SECOND = 2 * 1024 * 1024;

let pg: PgCluster;
let target: S3Target;
let streamer: Streamer;
let worker: LocalWorker;
let releaseLock: () => Promise<void>;
let receiver: Server;
let mirror: S3Target;
/** What the webhook and ping URLs received: path and parsed JSON body (if any). */
const received: { path: string; body: Record<string, unknown> | null }[] = [];
const keyring = generateKey("e2e-worker").entry;

async function startReceiver(): Promise<string> {
  receiver = createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8").on("data", (d: string) => (text += d));
    req.on("end", () => {
      received.push({ path: req.url ?? "", body: text ? (JSON.parse(text) as Record<string, unknown>) : null });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", () => resolve()));
  const addr = receiver.address();
  return `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
}

async function waitForReceived(pred: (r: (typeof received)[number]) => boolean, what: string) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const hit = received.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`never received ${what}; got ${JSON.stringify(received.map((r) => r.path))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForJob(w: LocalWorker, db: string, id: string, done: (j: ApiJob) => boolean): Promise<ApiJob> {
  const deadline = Date.now() + JOB_DEADLINE_MS;
  for (;;) {
    const { status, body } = await w.api<ApiJob>(`/backups/${db}/${id}`);
    expect(status).toBe(200);
    if (done(body)) return body;
    if (Date.now() > deadline) throw new Error(`job ${db}/${id} did not get there in time: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function listKeys(client: S3Client, prefix: string): Promise<{ objects: string[]; uploads: string[] }> {
  const objects: string[] = [];
  const uploads: string[] = [];
  for await (const o of client.list(prefix)) objects.push(o.key);
  for await (const u of client.listMultipartUploads(prefix)) uploads.push(u.key);
  return { objects, uploads };
}

beforeAll(async () => {
  pg = await startPostgres({ name: "e2e-worker" });
  const seedUrl = await pg.createDatabase("seeded");
  await pg.psqlFile(SEED_SQL, "seeded");
  const heldUrl = await pg.createDatabase("held");
  releaseLock = await holdLock(pg, "held");
  target = await freshBucket("e2e-worker");
  streamer = await startStreamer({ port: 0, host: "127.0.0.1", log: () => {} });
  const receiverUrl = await startReceiver();
  mirror = await freshBucket("e2e-worker-mirror");
  const wrongPassword = new URL(seedUrl);
  wrongPassword.password = "not-the-password-123";
  worker = await startLocalWorker({
    s3: target,
    prefix: "e2e",
    keyring,
    streamerUrl: streamer.url,
    alerts: { webhookUrl: `${receiverUrl}/hook`, onSuccess: true },
    databases: {
      shop: { url: seedUrl, pingUrl: `${receiverUrl}/ping/shop` },
      held: { url: heldUrl },
      broken: { url: wrongPassword.href },
      twice: { url: seedUrl, alsoTo: ["mirror", "locked-out"] },
    },
    // A second healthy bucket, and one whose key the store refuses: that copy fails, the others carry on.
    extraDestinations: [
      { name: "mirror", s3: mirror },
      { name: "locked-out", s3: { ...mirror, secretAccessKey: "not-the-secret" } },
    ],
  });
});

afterAll(async () => {
  await worker?.close();
  await streamer?.stop();
  await releaseLock?.();
  await pg?.stop();
  await new Promise((r) => receiver?.close(r));
});

describe("the Worker, started from Node with containers off and STREAMER_URL bound", () => {
  it("backs up through POST /backups/:db, drills it to sealed with exact per-table counts, and pgseal restore reproduces the database", async () => {
    const post = await worker.api<{ jobId: string; status_url: string }>("/backups/shop", { method: "POST" });
    expect(post.status).toBe(202);
    expect(post.body.status_url).toBe(`/backups/shop/${post.body.jobId}`);

    const job = await waitForJob(worker, "shop", post.body.jobId, (j) => ["uploaded", "sealed", "drill-failed", "drill-skipped", "failed", "cancelled"].includes(j.state));
    expect(job.error).toBeNull();
    expect(job.state).toBe("sealed");
    expect(job.events.map((e) => e.to)).toEqual(["queued", "starting", "dumping", "uploading", "drilling", "sealed"]);
    expect(JSON.stringify(job)).not.toContain(pg.password);
    expect(job.manifest?.status).toBe("sealed");
    expect(job.drill).toMatchObject({ verdict: "pass", target: "local-cluster" });
    // Exact per-table counts: the drill's restored counts equal the source database's.
    const sourceCounts = await tableCounts(pg, "seeded");
    expect(Object.fromEntries(job.drillRecord!.comparison!.tables.map((t) => [t.table, t.actual]))).toEqual(sourceCounts);
    expect(Object.fromEntries(job.drillRecord!.comparison!.tables.map((t) => [t.table, t.expected]))).toEqual(sourceCounts);

    type Status = { db: string; lastSealed: { jobId: string; drill: { restoreSeconds: number } } | null; lastPrune: { deleted: string[]; errors: string[] } | null };
    // Pruning runs right after the seal, in the same alarm: wait for its record (it lists the bucket,
    // which a loaded machine can make take seconds; a fixed number of short polls could give up first).
    let shopStatus: Status | undefined;
    const pruneDeadline = Date.now() + JOB_DEADLINE_MS;
    for (;;) {
      shopStatus = (await worker.api<{ databases: Status[] }>("/databases")).body.databases.find((d) => d.db === "shop");
      if (shopStatus?.lastPrune || Date.now() > pruneDeadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(shopStatus?.lastSealed).toMatchObject({ jobId: post.body.jobId, drill: { restoreSeconds: job.drill!.restoreSeconds } });
    // Retention ran after the seal, with the default policy: nothing to delete, nothing failed.
    expect(shopStatus?.lastPrune).toMatchObject({ deleted: [], errors: [] });
    const plan = await worker.api<{ keep: { key: string; reasons: string[] }[]; delete: unknown[] }>("/backups/shop/retention");
    expect(plan.body.delete).toEqual([]);
    expect(plan.body.keep).toEqual([expect.objectContaining({ key: job.artifactKey, reasons: expect.arrayContaining(["newest sealed"]) })]);

    // The month's report lists it with its restore time.
    const month = job.events[0].at.slice(0, 7);
    const report = await worker.api<{ databases: { db: string; counts: { sealed: number }; restoreSeconds: { max: number | null } }[] }>(`/reports/${month}`, {
      headers: { accept: "application/json" },
    });
    expect(report.status).toBe(200);
    const shop = report.body.databases.find((d) => d.db === "shop")!;
    expect(shop.counts.sealed).toBe(1);
    expect(shop.restoreSeconds.max).toBe(job.drill!.restoreSeconds);
    const html = await fetch(`${worker.url}/reports/${month}`, { headers: { authorization: `Bearer ${worker.token}` } });
    expect(html.headers.get("content-type")).toContain("text/html");
    expect(await html.text()).toContain("<svg");

    // The scrape says what the job recorded.
    const scrape = await fetch(`${worker.url}/metrics`, { headers: { authorization: `Bearer ${worker.token}` } });
    expect(scrape.headers.get("content-type")).toContain("application/openmetrics-text");
    const fams = parseOpenMetrics(await scrape.text());
    const metric = (family: string, labels: Record<string, string>) => fams.get(family)?.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
    expect(metric("pgseal_last_restore_seconds", { db: "shop" })).toBe(job.drill!.restoreSeconds);
    expect(metric("pgseal_last_drill_rows", { db: "shop" })).toBe(job.drill!.rows);
    expect(metric("pgseal_last_backup_stored_bytes", { db: "shop" })).toBe(job.manifest!.artifact.bytes);
    expect(metric("pgseal_last_backup_dump_bytes", { db: "shop" })).toBe(job.manifest!.dump.bytes);
    expect(metric("pgseal_last_backup_duration_seconds", { db: "shop" })).toBe(job.manifest!.timings.totalSeconds);
    expect(metric("pgseal_jobs", { db: "shop", state: "sealed" })).toBe(1);
    expect(metric("pgseal_last_sealed_backup_timestamp_seconds", { db: "shop" })).toBe(Date.parse(job.events.at(-1)!.at) / 1000);
    expect(metric("pgseal_active_job_phase", { db: "shop", pgseal_active_job_phase: "idle" })).toBe(1);
    expect((await fetch(`${worker.url}/metrics`)).status).toBe(401);

    // On the 1st, the cron stores the previous month's report in the bucket, once.
    const [y, mo] = month.split("-").map(Number);
    const firstOfNext = new Date(Date.UTC(y, mo, 1, 0, 5));
    await worker.harness.getWorker().scheduled({ cron: "*/5 * * * *", scheduledTime: firstOfNext });
    const client0 = new S3Client(target, nodeHashing);
    const storedJson = JSON.parse(await new Response((await client0.get(`e2e/reports/${month}.json`)).body).text()) as typeof report.body;
    expect(storedJson.databases.find((d) => d.db === "shop")?.counts.sealed).toBe(1);
    expect(await new Response((await client0.get(`e2e/reports/${month}.html`)).body).text()).toContain("Restore Drill Report");

    // Alerts: the ping saw start and success, the webhook a sealed message without secrets.
    await waitForReceived((r) => r.path === "/ping/shop/start", "the start ping");
    await waitForReceived((r) => r.path === "/ping/shop", "the success ping");
    const sealedAlert = await waitForReceived((r) => r.path === "/hook" && (r.body?.pgseal as { event?: string })?.event === "backup-sealed", "the sealed alert");
    expect(sealedAlert.body).toMatchObject({ text: expect.stringContaining("shop: backup sealed"), content: expect.any(String) });

    const client = new S3Client(target, nodeHashing);
    const { objects, uploads } = await listKeys(client, "e2e/shop/");
    expect(objects.sort()).toEqual([job.artifactKey, job.manifestKey].sort());
    expect(uploads).toEqual([]);
    expect(job.manifest?.artifact.bytes).toBe((await client.head(job.artifactKey!))!.size);

    await pg.createDatabase("restored");
    const restore = await pgseal(["restore", job.artifactKey!, "--prefix", "e2e", "--target", pg.urlFor("restored")], pgsealEnv(target, keyring));
    expect(restore.code, restore.stderr).toBe(0);
    const [a, b] = await Promise.all([fingerprint(pg, "seeded"), fingerprint(pg, "restored")]);
    expect(Object.keys(a.tables).length).toBeGreaterThan(10);
    expect(b).toEqual(a);

    const list = await worker.api<{ jobs: { id: string; state: string }[] }>("/backups/shop");
    expect(list.body.jobs[0]).toMatchObject({ id: post.body.jobId, state: "sealed" });
  });

  it("writes every configured destination in one pass, seals from the first, and records and alerts the copy that failed", async () => {
    const post = await worker.api<{ jobId: string }>("/backups/twice", { method: "POST" });
    const job = await waitForJob(worker, "twice", post.body.jobId, (j) => !isActiveJobState(j.state));
    expect(job.state, JSON.stringify(job.error)).toBe("sealed");
    expect(job.copies?.map((c) => [c.name, c.ok, c.error?.code ?? null])).toEqual([
      ["local", true, null],
      ["mirror", true, null],
      ["locked-out", false, "S3_FORBIDDEN"],
    ]);
    const inMirror = await listKeys(new S3Client(mirror, nodeHashing), "e2e/twice/");
    expect(inMirror.objects.sort()).toEqual([job.artifactKey, job.manifestKey].sort());
    const alert = await waitForReceived((r) => (r.body?.pgseal as { event?: string })?.event === "copy-failed", "the copy-failed alert");
    expect(alert.body).toMatchObject({ pgseal: { db: "twice", destination: "locked-out", code: "S3_FORBIDDEN" } });
    expect(JSON.stringify(alert.body)).not.toContain("not-the-secret");
    // The month's report counts each destination's copies.
    const report = await worker.api<{ databases: { db: string; copies: { destination: string; stored: number; failed: number }[] }[] }>(`/reports/${job.events[0].at.slice(0, 7)}`, {
      headers: { accept: "application/json" },
    });
    expect(report.body.databases.find((d) => d.db === "twice")?.copies).toEqual([
      { destination: "local", stored: 1, failed: 0 },
      { destination: "mirror", stored: 1, failed: 0 },
      { destination: "locked-out", stored: 0, failed: 1 },
    ]);
  });

  it("alerts the webhook when a backup fails, naming the code and never the password", async () => {
    const post = await worker.api<{ jobId: string }>("/backups/broken", { method: "POST" });
    const job = await waitForJob(worker, "broken", post.body.jobId, (j) => j.state === "failed");
    expect(job.error?.code).toBe("PG_AUTH_FAILED");
    const alert = await waitForReceived((r) => r.path === "/hook" && (r.body?.pgseal as { db?: string })?.db === "broken", "the failure alert");
    expect(alert.body).toMatchObject({ pgseal: { event: "backup-failed", code: "PG_AUTH_FAILED", jobId: post.body.jobId } });
    expect(JSON.stringify(alert.body)).not.toContain("not-the-password-123");
  });

  it("answers a second POST during a run with 409 and the active job's id, and a cancel leaves nothing in the bucket", async () => {
    const first = await worker.api<{ jobId: string }>("/backups/held", { method: "POST" });
    expect(first.status).toBe(202);
    await waitForJob(worker, "held", first.body.jobId, (j) => j.state === "dumping");
    const second = await worker.api<{ error: { code: string; message: string } }>("/backups/held", { method: "POST" });
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe("JOB_ACTIVE");
    expect(second.body.error.message).toContain(first.body.jobId);

    const cancel = await worker.api<{ state: string }>(`/backups/held/${first.body.jobId}`, { method: "DELETE" });
    expect(cancel.status).toBe(202);
    const job = await waitForJob(worker, "held", first.body.jobId, (j) => j.state === "cancelled");
    expect(job.artifactKey).toBeNull();
    expect(await listKeys(new S3Client(target, nodeHashing), "e2e/held/")).toEqual({ objects: [], uploads: [] });
  });
});

describe("cancelling while parts are uploading", () => {
  let slow: SlowProxy;
  let slowWorker: LocalWorker;
  let slowTarget: S3Target;

  beforeAll(async () => {
    const bigUrl = await pg.createDatabase("big");
    // Incompressible rows (md5 chains), ~40 MB: zstd cannot shrink it below several parts.
    await pg.psql("create table blob as select g as id, repeat(md5(g::text) || md5((g * 7)::text), 8) as v from generate_series(1, 80000) g;", "big");
    await pg.psql("update blob set v = encode(sha512(v::bytea), 'base64') || encode(sha512((v || 'x')::bytea), 'base64') || v;", "big");
    slowTarget = await freshBucket("e2e-worker-slow");
    slow = await startSlowProxy(slowTarget.endpoint, { bytesPerSecond: SLOW_UPLOAD_BYTES_PER_SECOND });
    slowWorker = await startLocalWorker({ s3: { ...slowTarget, endpoint: slow.url }, prefix: "slow", keyring, streamerUrl: streamer.url, databases: { big: { url: bigUrl } } });
  });

  afterAll(async () => {
    await slowWorker?.close();
    await slow?.stop();
  });

  it("aborts the open multipart upload: no object and no upload remain", async () => {
    const post = await slowWorker.api<{ jobId: string }>("/backups/big", { method: "POST" });
    expect(post.status).toBe(202);
    const client = new S3Client(slowTarget, nodeHashing);
    // The upload is open once the first part is on its way; cancel then.
    const deadline = Date.now() + JOB_DEADLINE_MS;
    while ((await listKeys(client, "slow/big/")).uploads.length === 0) {
      if (Date.now() > deadline) throw new Error("the multipart upload never started");
      await new Promise((r) => setTimeout(r, 100));
    }
    const cancel = await slowWorker.api(`/backups/big/${post.body.jobId}`, { method: "DELETE" });
    expect(cancel.status).toBe(202);
    const job = await waitForJob(slowWorker, "big", post.body.jobId, (j) => j.state === "cancelled");
    expect(job.manifestKey).toBeNull();
    // The streamer aborts after the job is marked cancelled: give it the time its abort takes.
    let left = await listKeys(client, "slow/big/");
    while (left.uploads.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      left = await listKeys(client, "slow/big/");
    }
    expect(left).toEqual({ objects: [], uploads: [] });
  });
});
