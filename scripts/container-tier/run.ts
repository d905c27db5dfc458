// `npm run test:container`: the real container path (PgDumpContainer, @cloudflare/containers, the image, the streamer in it) under Docker, with pass/fail checks.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localWorkerSettings, type ApiJob } from "../../test/harness/local-worker.ts";
import { holdLock } from "../../test/harness/held-lock.ts";
import { startPostgres, type PgCluster } from "../../test/harness/postgres.ts";
import { startS3, type S3Server } from "../../test/harness/s3.ts";
import { tableCounts } from "../../test/harness/compare.ts";
import { logTail } from "../../test/harness/ports.ts";
import { generateKey } from "../../src/shared/format/keyring.ts";
import { appContainers, checkConfigs, step, summary, waitFor, type Check } from "./checks.ts";
import { ensurePackages, nodeImage, postgresBuildArgs, ROOT, sidecarImage, startDockerd, streamerImage, docker, wranglerDockerEnv } from "./docker.ts";
import { CONTAINERS_CONFIG, forwardFromBridge, startContainerWorker, viaBridge, type ContainerWorker } from "./worker.ts";

const SEED_SQL = join(ROOT, "test/fixtures/seed.sql");
const BUCKET = "pgseal-container-tier";
/** Short, so the sleep check waits seconds, not the production five minutes. */
const SLEEP_AFTER_SECONDS = 10;
const JOB_DEADLINE_MS = 150_000;

const cleanups: (() => Promise<void>)[] = [];
/** wrangler's log, shown when the run stops early. */
let lastWorkerLog: string | undefined;
const checks: Check[] = [];

function check(name: string, pass: boolean, detail: string): void {
  checks.push({ name, pass, detail });
  console.log(`${pass ? "PASS" : "FAIL"} ${name}: ${detail}`);
}

interface Api {
  post(db: string): Promise<string>;
  job(db: string, id: string): Promise<ApiJob>;
}

function apiOf(url: () => string, token: string): Api {
  const call = async <T>(path: string, method = "GET"): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${url()}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
  return {
    async post(db) {
      const r = await call<{ jobId?: string }>(`/backups/${db}`, "POST");
      if (r.status !== 202 && r.status !== 200) throw new Error(`POST /backups/${db} answered ${r.status}: ${JSON.stringify(r.body)}`);
      return r.body.jobId!;
    },
    async job(db, id) {
      return (await call<ApiJob>(`/backups/${db}/${id}`)).body;
    },
  };
}

const lostEvents = (j: ApiJob) => j.events.filter((e) => e.detail?.includes("CONTAINER_LOST"));
const describe = (j: ApiJob) => `state ${j.state}, events: ${j.events.map((e) => `${e.to}${e.detail ? ` (${e.detail.slice(0, 140)})` : ""}`).join(" → ")}`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "pgseal-container-tier-"));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));

  await step("config: wrangler.containers.jsonc = wrangler.jsonc with containers on", async () => checkConfigs(ROOT, CONTAINERS_CONFIG));
  await step("packages: docker.io, debootstrap", ensurePackages);
  const dockerd = await step("dockerd (bridge, no NAT, ports on loopback)", async () => {
    const d = await startDockerd(dir);
    cleanups.push(() => d.stop());
    return { value: d, note: d.started ? `started; bridge gateway ${d.gateway}` : `already running (left running); gateway ${d.gateway}` };
  });
  await step("image: node:24-bookworm-slim", async () => nodeImage(dir));
  const sidecar = await step("image: workerd's network sidecar", async () => {
    const s = await sidecarImage();
    return { value: s.image, note: s.note };
  });
  const pgArgs = await step("PostgreSQL packages for the image", async () => {
    const p = await postgresBuildArgs();
    return { value: p.args, note: `${p.note}${p.args.length ? ` (${p.args.join(" ")})` : ""}` };
  });
  await step("image: container/Dockerfile", async () => {
    const bytes = await streamerImage(pgArgs);
    return { value: bytes, note: `image size ${(bytes / 1e6).toFixed(0)} MB` };
  });

  const { pg, s3 } = await step("PostgreSQL + S3 (test harness) and bridge forwarders", async () => {
    const [pg, s3]: [PgCluster, S3Server] = await Promise.all([startPostgres({ name: "container-tier" }), startS3()]);
    cleanups.push(
      () => pg.stop(),
      () => s3.stop(),
    );
    await pg.createDatabase("shop");
    await pg.psqlFile(SEED_SQL, "shop");
    await pg.createDatabase("held");
    await s3.createBucket(BUCKET);
    return { value: { pg, s3 }, note: `PostgreSQL on 127.0.0.1:${pg.port}, S3 at ${s3.endpoint}` };
  });
  const [pgFwd, s3Fwd] = await Promise.all([forwardFromBridge(dockerd.gateway, pg.port), forwardFromBridge(dockerd.gateway, Number(new URL(s3.endpoint).port))]);
  cleanups.push(
    () => pgFwd.close(),
    () => s3Fwd.close(),
  );
  const releaseLock = await holdLock(pg, "held");
  cleanups.push(releaseLock);

  const token = randomBytes(24).toString("base64url");
  const { vars, secrets } = localWorkerSettings(
    {
      s3: { endpoint: viaBridge(s3.endpoint, s3Fwd), bucket: BUCKET, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      prefix: "tier",
      keyring: generateKey("container-tier").entry,
      streamerUrl: "",
      databases: { shop: { url: viaBridge(pg.urlFor("shop"), pgFwd) }, held: { url: viaBridge(pg.urlFor("held"), pgFwd) } },
    },
    token,
  );
  delete secrets.STREAMER_URL; // real containers: no seam
  const workerVars = { PGSEAL_CONFIG: JSON.stringify(vars.PGSEAL_CONFIG), ...secrets, CONTAINER_SLEEP_AFTER: `${SLEEP_AFTER_SECONDS}s` };
  const persistTo = join(dir, "state");
  const dockerEnv = wranglerDockerEnv(pgArgs, sidecar);
  let worker: ContainerWorker | undefined;
  cleanups.push(async () => worker?.close());
  const start = async () => {
    worker = await startContainerWorker({ dir, persistTo, vars: workerVars, dockerEnv });
    lastWorkerLog = worker.log;
  };
  await step("wrangler dev -c wrangler.containers.jsonc (builds the image through the shim)", async () => {
    await start();
    return { value: undefined, note: worker!.url };
  });
  const api = apiOf(() => worker!.url, token);
  const sealed = (db: string, id: string) =>
    waitFor(
      () => api.job(db, id),
      (j) => j.state === "sealed" || j.state === "failed" || j.state === "cancelled",
      JOB_DEADLINE_MS,
      `job ${id}`,
    );

  // (a) One backup through the real container, to sealed, with per-table counts that match the source.
  const a = await step("(a) POST /backups/shop → sealed", async () => {
    const id = await api.post("shop");
    const job = await sealed("shop", id);
    return { value: job, note: `${job.state} in attempt ${job.events.filter((e) => e.to === "starting").length}` };
  });
  const expected = await tableCounts(pg, "shop");
  const drilled = a.drillRecord?.comparison?.tables ?? [];
  const mismatched = drilled.filter((t) => t.expected !== t.actual || expected[t.table] !== t.expected);
  check(
    "(a) backup sealed with per-table counts",
    a.state === "sealed" && drilled.length === Object.keys(expected).length && drilled.length > 0 && mismatched.length === 0,
    a.state === "sealed" ? `${drilled.length} tables, ${a.drill?.rows} rows; restored counts equal the source's${mismatched.length ? `; MISMATCHED ${JSON.stringify(mismatched)}` : ""}` : describe(a),
  );
  const firstContainer = (await appContainers())[0];
  /** The streamer job of the last backup (c) ran: the container (d) makes vanish had taken it. */
  let previousJob = "";

  // (b) docker kill while pg_dump waits on a lock: CONTAINER_LOST, then the retry seals.
  await step("(b) docker kill mid-dump → CONTAINER_LOST → retry → sealed", async () => {
    const id = await api.post("held");
    await waitFor(
      () => api.job("held", id),
      (j) => j.state === "dumping",
      60_000,
      `job ${id} dumping`,
    );
    const [victim] = await appContainers();
    await docker(["kill", victim], "docker kill");
    const lost = await waitFor(
      () => api.job("held", id),
      (j) => lostEvents(j).length > 0 || j.state === "failed",
      60_000,
      `CONTAINER_LOST of ${id}`,
    );
    const lostAfter = lost.events.find((e) => e.detail?.includes("CONTAINER_LOST"));
    await releaseLock();
    const job = await sealed("held", id);
    check(
      "(b) killed mid-dump → CONTAINER_LOST → retry → sealed",
      job.state === "sealed" && lostEvents(job).length === 1,
      `${lostAfter ? `CONTAINER_LOST: ${lostAfter.detail?.slice(0, 120)}; ` : ""}${describe(job)}`,
    );
    return { value: undefined, note: job.state };
  });

  // (c) sleepAfter stops the idle container; the next POST starts a new one.
  await step(`(c) sleepAfter (${SLEEP_AFTER_SECONDS} s) → stopped → cold start`, async () => {
    const t0 = Date.now();
    const stopped = await waitFor(appContainers, (c) => c.length === 0, 120_000, "the idle container to stop");
    const idleSeconds = ((Date.now() - t0) / 1000).toFixed(0);
    const id = await api.post("shop");
    const job = await sealed("shop", id);
    previousJob = `${id}-a1`;
    const now = await appContainers();
    const cold = now.length === 1 && now[0] !== firstContainer;
    check(
      "(c) sleepAfter stopped the container; the next POST cold-started one and sealed",
      stopped.length === 0 && cold && job.state === "sealed",
      `stopped ${idleSeconds} s after the last job; new container ${now[0]?.slice(0, 12) ?? "none"}; ${job.state}`,
    );
    return { value: undefined, note: job.state };
  });

  // (d) The stale stop: the container vanishes while its Durable Object is down (wrangler stopped, state kept);
  // the next start must not fail the new attempt with that old stop.
  await step("(d) container gone while its Durable Object was down → next POST seals in attempt 1", async () => {
    const before = await appContainers();
    await worker!.close();
    const gone = await waitFor(appContainers, (c) => c.length === 0, 30_000, "workerd to remove its containers");
    await start();
    const id = await api.post("shop");
    const job = await sealed("shop", id);
    const attempts = job.events.filter((e) => e.to === "starting").length;
    // Proof that the stale stop really came (else this check would pass without the bug's trigger).
    const ignored = readFileSync(worker!.log, "utf8").includes(`shop: a container stop of job ${previousJob} left job ${id}-a1 (starting) alone`);
    check(
      "(d) a stale stop does not fail the next attempt",
      before.length === 1 && gone.length === 0 && ignored && job.state === "sealed" && attempts === 1 && lostEvents(job).length === 0,
      `container running before the restart: ${before.length === 1}; the old container's stop reported and left alone: ${ignored}; ${describe(job)}`,
    );
    return { value: undefined, note: `${job.state} in ${attempts} attempt(s)` };
  });
}

/** Stops what this run started, newest first; each cleanup runs once even when a signal arrives mid-way. */
async function cleanUp(): Promise<void> {
  for (let c = cleanups.pop(); c; c = cleanups.pop()) {
    try {
      await c();
    } catch (e) {
      console.error(`cleanup: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

// dockerd and wrangler run in their own process groups: Ctrl-C does not reach them, this does.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping what the container tier started`);
    void cleanUp().finally(() => process.exit(130));
  });
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error(`\nFAIL container tier stopped: ${e instanceof Error ? e.message : String(e)}`);
  if (lastWorkerLog) console.error(`\nwrangler dev, last lines:\n${logTail(lastWorkerLog, 40)}`);
} finally {
  await cleanUp();
}
const passed = summary(checks, failed ? 1 : 0);
process.exitCode = passed && !failed && checks.length === 4 ? 0 : 1;
