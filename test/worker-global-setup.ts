// Real parts for the "workers" project: Swift, PostgreSQL, and the real streamer behind a TCP proxy tests can take down.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { TestProject } from "vitest/node";
import { startStreamer } from "../container/src/server.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { createUniqueBucket } from "./harness/buckets.ts";
import { holdLock } from "./harness/held-lock.ts";
// PGSEAL_TEST_PG, if set, gives the in-process streamer the same major as the servers.
import "./harness/pg-major-setup.ts";
import { startPostgres } from "./harness/postgres.ts";
import { startS3 } from "./harness/s3.ts";
import { startTcpProxy } from "./harness/tcp-proxy.ts";
import { isolateTempDirs } from "./harness/temp-dirs.ts";

/** Databases whose jobs really run (they have a DATABASE_URL secret): a full backup of the seed database. */
export const LIVE_DATABASES = ["app", "queued"] as const;
/**
 * Their DATABASE_URL points at a database whose one table is locked for the whole run, so
 * pg_dump really starts and then waits: a job that stays `dumping` until cancelled or lost.
 */
export const HELD_DATABASES = ["cancelme", "lost", "stall", "overrun", "locked"] as const;
/** The watchdog test's databases: a yearly schedule, so nothing fires while tests run. */
export const WATCHDOG_DATABASES = Array.from({ length: 200 }, (_, i) => `w-${String(i).padStart(3, "0")}`);
/** Databases without secrets: API and state-machine tests; a job there fails at start with CONFIG_INVALID. */
export const OFFLINE_DATABASES = ["api-a", "api-b", "sm", "sched", "events", "arm", "rearm", "slots", "uploads"] as const;
export const TEST_MAX_CONCURRENT_JOBS = 2;

declare module "vitest" {
  interface ProvidedContext {
    workerBindings: Record<string, unknown>;
  }
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject).listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve(`http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`);
    });
  });
}

/**
 * The streamer is container/src/server.ts in this process; a loopback control endpoint takes its
 * proxy down and up, or replaces it. Everything reaches workerd as bindings: PGSEAL_CONFIG, the
 * secrets, STREAMER_URL (the proxy), and TEST_WORKERS for the tests themselves.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: (() => Promise<void>)[] = [];
  const checkTempDirs = isolateTempDirs();
  const teardown = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    checkTempDirs();
  };
  try {
    const s3 = await startS3();
    stops.push(() => s3.stop());
    const pg = await startPostgres({ name: "workers" });
    stops.push(() => pg.stop());
    const sourceUrl = await pg.createDatabase("app");
    await pg.psqlFile("test/fixtures/seed.sql", "app");
    const bucket = await createUniqueBucket(s3, "worker-backups");
    const heldUrl = await pg.createDatabase("held");
    stops.push(await holdLock(pg, "held"));

    // The streamer's JSON log lines would drown the test report; its behaviour is asserted through its API.
    let streamer = await startStreamer({ port: 0, host: "127.0.0.1", log: () => {} });
    stops.push(() => streamer.stop());
    const proxy = await startTcpProxy(streamer.url);
    stops.push(() => proxy.stop());
    // A replaced container: a fresh streamer on the same port, which knows none of the old jobs.
    const restart = async () => {
      await streamer.stop();
      streamer = await startStreamer({ port: streamer.port, host: "127.0.0.1", log: () => {} });
    };
    // The streamer "dies" (every connection reset, port closed), comes back, or is replaced.
    // Alerts the Worker sends (ALERT_WEBHOOK_URL points here): kept for GET /hooks.
    const hooks: { path: string; body: unknown }[] = [];
    const control = createServer((req, res) => {
      if (req.url?.startsWith("/hooks")) {
        if (req.method === "GET") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(hooks));
        let text = "";
        req.setEncoding("utf8").on("data", (d: string) => (text += d));
        req.on("end", () => {
          hooks.push({ path: req.url ?? "", body: text ? JSON.parse(text) : null });
          res.writeHead(204).end();
        });
        return;
      }
      const action = req.method === "POST" ? { "/streamer/down": proxy.down, "/streamer/up": proxy.up, "/streamer/restart": restart }[req.url ?? ""] : undefined;
      if (!action) {
        res.writeHead(404).end();
        return;
      }
      action().then(
        () => res.writeHead(204).end(),
        (e: unknown) => res.writeHead(500).end(String(e)),
      );
    });
    const controlUrl = await listen(control);
    stops.push(() => new Promise<void>((resolve) => control.close(() => resolve())));

    const schedule = "0 0 1 1 *";
    const databases: Record<string, unknown> = {};
    for (const db of [...LIVE_DATABASES, ...HELD_DATABASES, ...OFFLINE_DATABASES, ...WATCHDOG_DATABASES]) databases[db] = { schedule, destination: "swift" };
    // "stale" alerts when no sealed backup is younger than a day.
    databases.stale = { schedule, destination: "swift", maxAgeHours: 24 };
    // "queued" covers a database with drills switched off: its jobs end `uploaded`, never sealed.
    databases.queued = { schedule, destination: "swift", drill: "off" };
    // Jobs that must end on their own: a stall limit, a run-time limit, and a lock wait timeout.
    databases.stall = { schedule, destination: "swift", stallTimeoutMinutes: 5 };
    databases.overrun = { schedule, destination: "swift", maxRunHours: 1, stallTimeoutMinutes: 1440 };
    databases.locked = { schedule, destination: "swift", lockWaitTimeoutSeconds: 1 };
    const bindings: Record<string, unknown> = {
      PGSEAL_CONFIG: {
        destinations: { swift: { endpoint: s3.endpoint, bucket, region: s3.region, prefix: "workers", pathStyle: true } },
        databases,
        maxConcurrentJobs: TEST_MAX_CONCURRENT_JOBS,
      },
      S3_ACCESS_KEY_ID_SWIFT: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY_SWIFT: s3.secretAccessKey,
      PGSEAL_KEYRING: generateKey("workers").entry,
      ADMIN_TOKEN: randomBytes(24).toString("base64url"),
      STREAMER_URL: proxy.url,
      ALERT_WEBHOOK_URL: `${controlUrl}/hooks/alert`,
      // Test-only: where the bucket is, and the switch for streamer outages.
      TEST_WORKERS: JSON.stringify({ controlUrl, bucket, s3: { endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }),
    };
    for (const db of LIVE_DATABASES) bindings[`DATABASE_URL_${db.toUpperCase()}`] = sourceUrl;
    for (const db of HELD_DATABASES) bindings[`DATABASE_URL_${db.toUpperCase()}`] = heldUrl;
    project.provide("s3", { endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
    project.provide("workerBindings", bindings);
    return teardown;
  } catch (e) {
    // The setup's own error is the one to see; a temp-dir complaint from the teardown is printed, not thrown over it.
    await teardown().catch((t: unknown) => console.error(t));
    throw e;
  }
}
