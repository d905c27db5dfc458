// Live progress end to end: while a job runs, GET /backups/:db/:job shows each phase with the bytes the streamer sees.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStreamer, type Streamer } from "../container/src/server.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { startLocalWorker, type ApiJob, type LocalWorker } from "./harness/local-worker.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { startSlowProxy, type SlowProxy } from "./harness/slow-proxy.ts";
import { freshBucket } from "./harness/use-s3.ts";
import { isActiveJobState } from "../src/shared/contract/job-states.ts";

const JOB_DEADLINE_MS = 180_000;
const CLIENT_POLL_MS = 200;
/** Uploads through a throttled link: however fast this machine dumps, backpressure keeps the job in its phases for seconds. */
const UPLOAD_BYTES_PER_SECOND = 8 * 1024 * 1024;

let pg: PgCluster;
let streamer: Streamer;
let worker: LocalWorker;
let slow: SlowProxy;

beforeAll(async () => {
  pg = await startPostgres({ name: "live" });
  await pg.createDatabase("big");
  // ~145 MB of poorly compressible text, twice what the upload buffers (parts in flight): with the
  // throttled upload below, pg_dump is held back by backpressure and the dump phase lasts seconds.
  await pg.psql("create table blob as select g as id, (select string_agg(md5((g * 100 + i)::text), '') from generate_series(1, 30) i) as t from generate_series(1, 150000) g", "big");
  streamer = await startStreamer({ port: 0, host: "127.0.0.1", log: () => {} });
  const s3 = await freshBucket("live");
  slow = await startSlowProxy(s3.endpoint, { bytesPerSecond: UPLOAD_BYTES_PER_SECOND });
  worker = await startLocalWorker({ s3: { ...s3, endpoint: slow.url }, prefix: "live", keyring: generateKey("live").entry, streamerUrl: streamer.url, databases: { big: { url: pg.urlFor("big") } } });
});

afterAll(async () => {
  await worker?.close();
  await slow?.stop();
  await streamer?.stop();
  await pg?.stop();
});

describe("live progress through the API", () => {
  it("shows dumping and its growing bytes while the job runs, each phase as it happens, not only afterwards", async () => {
    const post = await worker.api<{ status_url: string }>("/backups/big", { method: "POST" });
    expect(post.status).toBe(202);
    const seen: ApiJob[] = [];
    const deadline = Date.now() + JOB_DEADLINE_MS;
    for (;;) {
      const r = await worker.api<ApiJob>(post.body.status_url);
      expect(r.status).toBe(200);
      seen.push(r.body);
      if (!isActiveJobState(r.body.state)) break;
      if (Date.now() > deadline) throw new Error(`the job did not end: ${r.body.state}`);
      await new Promise((res) => setTimeout(res, CLIENT_POLL_MS));
    }
    const last = seen[seen.length - 1];
    expect(last.state, JSON.stringify(last.error)).toBe("sealed");
    // While running: the dump phase was visible with bytes growing, and the upload's bytes too.
    const dumping = seen.filter((j) => j.state === "dumping" && j.progress);
    expect(dumping.length).toBeGreaterThan(0);
    const dumped = seen.filter((j) => isActiveJobState(j.state) && j.progress).map((j) => j.progress!.bytesDumped);
    expect(new Set(dumped).size).toBeGreaterThan(2);
    expect(seen.some((j) => isActiveJobState(j.state) && (j.progress?.bytesCompressed ?? 0) > 0 && (j.progress?.bytesUploaded ?? 0) > 0)).toBe(true);
    expect(seen.some((j) => j.state === "drilling" && (j.progress?.drill?.bytesRead ?? 0) > 0)).toBe(true);
    // The job passed every phase, and dumping (seconds long here) was entered on a poll that saw it, not
    // reconstructed afterwards. (A phase shorter than a poll, like the final upload of a small job, may still be.)
    expect(last.events.map((e) => e.to)).toEqual(expect.arrayContaining(["starting", "dumping", "uploading", "drilling", "sealed"]));
    expect(last.events.find((e) => e.to === "dumping")?.detail).not.toMatch(/passed between two polls/);
  });
});
