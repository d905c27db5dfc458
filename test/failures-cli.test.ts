// Failure paths of the CLI against real servers: each fails with its code, names the cause, leaks nothing, loses nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { runRestore } from "../container/src/restore.ts";
import { parseKey } from "../src/shared/catalog/artifact-keys.ts";
import { parseManifest } from "../src/shared/catalog/manifest.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { freshBucket } from "./harness/use-s3.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { startTcpProxy } from "./harness/tcp-proxy.ts";

let pg: PgCluster;
let target: S3Target;
let env: Record<string, string>;
let sourceUrl: string;
let client: S3Client;

async function keysUnder(prefix: string): Promise<string[]> {
  const keys = [];
  for await (const o of client.list(prefix)) keys.push(o.key);
  return keys;
}

async function openUploads(prefix: string): Promise<string[]> {
  const ids = [];
  for await (const u of client.listMultipartUploads(prefix)) ids.push(u.uploadId);
  return ids;
}

function expectNoSecrets(text: string): void {
  expect(text).not.toContain(pg.password);
  expect(text).not.toContain(target.secretAccessKey);
  expect(text).not.toContain(env.PGSEAL_KEYRING.split(":")[1]);
}

beforeAll(async () => {
  pg = await startPostgres();
  sourceUrl = await pg.createDatabase("src");
  // ~40 MB of hex text (compresses only ~2x) so an upload spans several 5 MiB parts.
  await pg.psql("create table blob as select g as id, (select string_agg(md5((g * 100 + i)::text), '') from generate_series(1, 20) i) as t from generate_series(1, 60000) g", "src");
  target = await freshBucket("failures");
  client = new S3Client(target, nodeHashing);
  env = pgsealEnv(target, generateKey("fail").entry);
});

afterAll(async () => {
  await pg?.stop();
});

describe("backup failures", () => {
  it("reports PG_AUTH_FAILED for a wrong database password, without the password, and writes nothing", async () => {
    const badUrl = sourceUrl.replace(`:${encodeURIComponent(pg.password)}@`, ":wrong-password-123@");
    const r = await pgseal(["backup", "--name", "authfail", "--prefix", "authfail"], { ...env, PGSEAL_DATABASE_URL: badUrl });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error PG_AUTH_FAILED: .*check the user and password/);
    expect(r.stderr).not.toContain("wrong-password-123");
    expectNoSecrets(r.stderr + r.stdout);
    expect(await keysUnder("authfail/")).toEqual([]);
  });

  it("reports PG_UNREACHABLE for a host where nothing listens", async () => {
    const r = await pgseal(["backup", "--name", "unreach", "--prefix", "unreach"], { ...env, PGSEAL_DATABASE_URL: `postgres://pgseal_test:${pg.password}@127.0.0.1:1/src` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error PG_UNREACHABLE: .*127\.0\.0\.1/);
    expectNoSecrets(r.stderr);
  });

  it("reports S3_FORBIDDEN for a wrong S3 secret and never prints the secret", async () => {
    const r = await pgseal(["backup", "--name", "s3forbidden"], { ...env, PGSEAL_DATABASE_URL: sourceUrl, PGSEAL_S3_SECRET_ACCESS_KEY: "not-the-secret-987" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error S3_FORBIDDEN: /);
    expect(r.stderr).toContain(target.endpoint);
    expect(r.stderr).not.toContain("not-the-secret-987");
    expectNoSecrets(r.stderr);
  });

  it("reports S3_NO_SUCH_BUCKET naming the bucket", async () => {
    const r = await pgseal(["backup", "--name", "nobucket"], { ...env, PGSEAL_DATABASE_URL: sourceUrl, PGSEAL_S3_BUCKET: "no-such-bucket-here" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error S3_NO_SUCH_BUCKET: .*no-such-bucket-here/);
  });

  it("writes no manifest and leaves no multipart upload when the S3 server goes down mid-upload", async () => {
    const proxy = await startTcpProxy(target.endpoint);
    try {
      const run = pgseal(["backup", "--name", "outage", "--prefix", "outage", "--part-size-mib", "5"], {
        ...env,
        PGSEAL_DATABASE_URL: sourceUrl,
        PGSEAL_S3_ENDPOINT: proxy.url,
      });
      // Down after the first part went through, up again a little later: the in-flight parts
      // exhaust their retries, and the abort (retried longer) reaches the server once it is back.
      const first = await Promise.race([proxy.waitForBytesUp(6 * 1024 * 1024).then(() => "outage" as const), run]);
      expect(first, "the backup ended before the outage began").toBe("outage");
      await proxy.down();
      setTimeout(() => void proxy.up(), 4000);
      const r = await run;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/error S3_UNAVAILABLE: .*127\.0\.0\.1:\d+/);
      expectNoSecrets(r.stderr);
      expect(await keysUnder("outage/")).toEqual([]);
      expect(await openUploads("outage/")).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });
});

describe("restore failures", () => {
  it("refuses a corrupted artifact with ARTIFACT_CORRUPT or FORMAT_AUTH_FAILED and leaves the target empty", async () => {
    const b = await pgseal(["backup", "--name", "corrupt", "--prefix", "corrupt"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(b.code, b.stderr).toBe(0);
    const key = b.stdout.trim();
    const bytes = new Uint8Array(await new Response((await client.get(key)).body).arrayBuffer());
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    await client.put(key, bytes);

    const targetUrl = await pg.createDatabase("corrupt_target");
    const r = await pgseal(["restore", key, "--target", targetUrl, "--prefix", "corrupt"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error (ARTIFACT_CORRUPT|FORMAT_AUTH_FAILED): /);
    expect(await pg.psql("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public'", "corrupt_target")).toBe("0");
  });

  it("refuses to restore into a database that already has tables unless --clean is given", async () => {
    const b = await pgseal(["backup", "--name", "nonempty", "--prefix", "nonempty"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(b.code, b.stderr).toBe(0);
    const targetUrl = await pg.createDatabase("nonempty_target");
    await pg.psql("create table keep_me(x int); insert into keep_me values (42)", "nonempty_target");
    const r = await pgseal(["restore", b.stdout.trim(), "--target", targetUrl, "--prefix", "nonempty"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error RESTORE_TARGET_NOT_EMPTY: .*--clean/);
    expect(await pg.psql("select x from keep_me", "nonempty_target")).toBe("42");
    const clean = await pgseal(["restore", b.stdout.trim(), "--target", targetUrl, "--prefix", "nonempty", "--clean"], env);
    expect(clean.code, clean.stderr).toBe(0);
    expect(await pg.psql("select count(*) from blob", "nonempty_target")).toBe("60000");
  });

  it("cancels the artifact it opened while checking a target that turns out not to be empty, having read none of it", async () => {
    const b = await pgseal(["backup", "--name", "overlap", "--prefix", "overlap"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(b.code, b.stderr).toBe(0);
    const manifestKey = `${parseKey(b.stdout.trim())!.stem}.manifest.json`;
    const manifest = parseManifest(await new Response((await client.get(manifestKey)).body).text(), manifestKey);
    const targetUrl = await pg.createDatabase("overlap_target");
    await pg.psql("create table keep_me(x int)", "overlap_target");
    const opened: { key: string; cancelled: boolean; bytesRead: number }[] = [];
    const watching = {
      get: async (key: string, opts?: Parameters<S3Client["get"]>[1]) => {
        const r = await client.get(key, opts);
        const seen = { key, cancelled: false, bytesRead: 0 };
        opened.push(seen);
        const reader = r.body.getReader();
        const body = new ReadableStream<Uint8Array>(
          {
            async pull(c) {
              const { done, value } = await reader.read();
              if (done) return c.close();
              seen.bytesRead += value.length;
              c.enqueue(value);
            },
            cancel: (reason) => ((seen.cancelled = true), reader.cancel(reason)),
          },
          { highWaterMark: 0 },
        );
        return { ...r, body };
      },
    };
    const err = await runRestore({ client: watching, manifest, keyring: parseKeyring(env.PGSEAL_KEYRING), targetUrl }).catch((e) => e);
    expect(err).toMatchObject({ code: "RESTORE_TARGET_NOT_EMPTY" });
    expect(opened).toEqual([{ key: manifest.artifact.key, cancelled: true, bytesRead: 0 }]);
  });

  it("names the missing key id when the keyring cannot decrypt the backup", async () => {
    const b = await pgseal(["backup", "--name", "keyid", "--prefix", "keyid"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(b.code, b.stderr).toBe(0);
    const targetUrl = await pg.createDatabase("keyid_target");
    const r = await pgseal(["restore", b.stdout.trim(), "--target", targetUrl, "--prefix", "keyid"], { ...env, PGSEAL_KEYRING: generateKey("other").entry });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error KEY_UNKNOWN_ID: .*'fail'.*other/);
  });
});
