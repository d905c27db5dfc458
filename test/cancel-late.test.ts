// A cancel that comes after the upload but cannot take the backup back (the store is down): the job ends with what is really stored, never "cancelled".
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { parseManifest } from "../src/shared/catalog/manifest.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { sleep } from "./harness/registry.ts";
import { spawnStreamer, type StreamerProcess } from "./harness/streamer.ts";
import { startTcpProxy, type TcpProxy } from "./harness/tcp-proxy.ts";
import { freshBucket } from "./harness/use-s3.ts";

let pg: PgCluster;
let target: S3Target;
let proxy: TcpProxy;
let streamer: StreamerProcess;
let url: string;

async function status(jobId: string): Promise<any> {
  return (await fetch(`${streamer.url}/jobs/${jobId}`)).json();
}

beforeAll(async () => {
  pg = await startPostgres({ name: "cancel-late" });
  url = await pg.createDatabase("app");
  await pg.psql("CREATE TABLE t AS SELECT i FROM generate_series(1, 50000) i;", "app");
  target = await freshBucket("cancel-late");
  proxy = await startTcpProxy(target.endpoint);
  streamer = await spawnStreamer();
});

afterAll(async () => {
  await streamer?.stop();
  await proxy?.stop();
  await pg?.stop();
});

describe("a cancel too late to remove the backup", () => {
  it("ends succeeded with the stored, undrilled backup and a note saying why it stays; the manifest says uploaded", async () => {
    const body = {
      jobId: "late-1",
      kind: "backup",
      db: "app",
      databaseUrl: url,
      destination: { ...target, endpoint: proxy.url, pathStyle: true },
      prefix: "late",
      keyring: generateKey("late").entry,
      compression: "zstd",
      drill: { mode: "local" },
    };
    expect((await fetch(`${streamer.url}/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).status).toBe(202);
    for (let i = 0; (await status("late-1")).phase !== "drilling"; i++) {
      if (i > 1200) throw new Error("the drill never started");
      await sleep(25);
    }
    await proxy.down();
    expect((await fetch(`${streamer.url}/jobs/late-1`, { method: "DELETE" })).status).toBe(202);
    let done: any;
    for (let i = 0; (done = await status("late-1")).state === "running"; i++) {
      if (i > 2400) throw new Error("the job never ended");
      await sleep(50);
    }
    await proxy.up();
    expect(done.state).toBe("succeeded");
    expect(done.result.manifest.status).toBe("uploaded");
    expect(done.result.cancelNote).toMatch(/the cancel came after the upload and the backup could not be removed, so it stays, undrilled/);
    const bucket = new S3Client(target, nodeHashing);
    const stored = parseManifest(await new Response((await bucket.get(done.result.manifestKey)).body).text(), done.result.manifestKey);
    expect(stored.status).toBe("uploaded");
    expect(await bucket.head(done.result.artifactKey)).not.toBeNull();
  });
});
