// Open multipart uploads are owned: an upload a failed run could not abort is recorded, shown by `pgseal list`, and aborted at once by the next run or by prune.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { createUploadSink } from "../src/shared/s3/multipart.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { startTcpProxy, type TcpProxy } from "./harness/tcp-proxy.ts";
import { freshBucket } from "./harness/use-s3.ts";

const PART = 5 * 1024 * 1024;
let pg: PgCluster;
let target: S3Target;
let bucket: S3Client;
let proxy: TcpProxy;
let env: Record<string, string>;
let sourceUrl: string;

async function openUploads(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const u of bucket.listMultipartUploads(prefix)) keys.push(u.key);
  return keys;
}

beforeAll(async () => {
  pg = await startPostgres({ name: "open-uploads" });
  sourceUrl = await pg.createDatabase("src");
  await pg.psql("CREATE TABLE t AS SELECT i FROM generate_series(1, 100) i;", "src");
  target = await freshBucket("open-uploads");
  bucket = new S3Client(target, nodeHashing);
  proxy = await startTcpProxy(target.endpoint);
  env = { ...pgsealEnv(target, generateKey("ou").entry), PGSEAL_PREFIX: "ou" };
});

afterAll(async () => {
  await proxy?.stop();
  await pg?.stop();
});

describe("open multipart uploads", () => {
  const key = "ou/app/2026/11/app_20261129T000000Z.dump.zst.pgseal";

  it("an outage longer than the abort budget: the sink reports the upload it could not abort, and it is really still open", async () => {
    const client = new S3Client({ ...target, endpoint: proxy.url }, nodeHashing, { retries: 1, baseDelayMs: 5 });
    const open: { key: string; uploadId: string }[] = [];
    const sink = createUploadSink(client, key, { partSize: PART, concurrency: 1, onOpenUpload: (u) => open.push(u) });
    const w = sink.writable.getWriter();
    await w.write(new Uint8Array(PART + 1)); // part 1 goes out: the multipart upload exists
    await proxy.waitForBytesUp(PART);
    await new Promise((r) => setTimeout(r, 500));
    await proxy.down();
    await w.abort(new Error("the store went away"));
    await expect(sink.result).rejects.toThrow();
    await proxy.up();
    expect(open).toEqual([{ key, uploadId: expect.any(String), reason: expect.any(String) }]);
    expect(await openUploads("ou/app/")).toEqual([key]);
  });

  it("pgseal list shows the open upload", async () => {
    const text = await pgseal(["list", "--name", "app"], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`open-upload .* ${key.replace(/\./g, "\\.")}`));
    const json = await pgseal(["list", "--name", "app", "--json"], env);
    expect(JSON.parse(json.stdout)).toContainEqual(expect.objectContaining({ key, status: "open-upload", db: "app" }));
  });

  it("the next run of the database aborts it at once and says so", async () => {
    const r = await pgseal(["backup", "--name", "app", "--drill"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`aborted a multipart upload an earlier run left open in primary: ${key}`);
    expect(await openUploads("ou/app/")).toEqual([]);
  });

  it("pgseal prune aborts an upload started before the newest complete backup at once (its run is over), not a day later", async () => {
    const leftover = await bucket.createMultipart("ou/app/2026/11/app_20261129T000001Z.dump.zst.pgseal");
    await new Promise((r) => setTimeout(r, 1100));
    const b = await pgseal(["backup", "--name", "app"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(b.code, b.stderr).toBe(0);
    // A plain backup (no drill) does not clear leftovers; prune does.
    expect((await openUploads("ou/app/")).length).toBe(1);
    const p = await pgseal(["prune", "--name", "app", "--json"], env);
    expect(p.code, p.stderr).toBe(0);
    expect(await openUploads("ou/app/")).toEqual([]);
    expect(leftover).toBeTruthy();
  });
});
