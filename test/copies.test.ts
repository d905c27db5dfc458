// Two destinations in one pass against real Swift buckets: one dump to both, a copy that dies mid-upload fails alone, the drill reads the healthy one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../container/src/backup.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { sealBackup } from "../container/src/seal.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { parseManifest } from "../src/shared/catalog/manifest.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { startTcpProxy, type TcpProxy } from "./harness/tcp-proxy.ts";
import { freshBucket } from "./harness/use-s3.ts";

const keyring = parseKeyring(generateKey("copies").entry);
const PART_BYTES = 5 * 1024 * 1024;
let pg: PgCluster;
let proxy: TcpProxy | undefined;

async function objects(t: S3Target, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of new S3Client(t, nodeHashing).list(prefix)) keys.push(o.key);
  return keys.sort();
}

beforeAll(async () => {
  pg = await startPostgres({ name: "copies" });
  await pg.createDatabase("big");
  // ~25 MB that zstd cannot shrink much: several 5 MiB parts per copy.
  await pg.psql("create table blob as select g as id, encode(sha512(g::text::bytea), 'base64') || encode(sha512((g + 1)::text::bytea), 'base64') as v from generate_series(1, 120000) g;", "big");
});

afterAll(async () => {
  await proxy?.stop();
  await pg?.stop();
});

describe("writing two destinations in one pass", () => {
  it("stores byte-identical copies in both buckets, drills one and checks the other by size and sha256", async () => {
    const [a, b] = [await freshBucket("copy-a"), await freshBucket("copy-b")];
    const r = await runBackup({ db: "big", databaseUrl: pg.urlFor("big"), s3: a, name: "a", copies: [{ name: "b", s3: b }], prefix: "c", keyring, compression: "zstd", partSize: PART_BYTES });
    expect(r.copies.map((c) => [c.name, c.ok])).toEqual([
      ["a", true],
      ["b", true],
    ]);
    expect(r.manifest.artifact.parts).toBeGreaterThan(1);
    const [ka, kb] = [await objects(a, "c/"), await objects(b, "c/")];
    expect(ka).toEqual([r.manifest.artifact.key, r.manifestKey].sort());
    expect(kb).toEqual(ka);
    const sealed = await sealBackup({
      client: new S3Client(a, nodeHashing),
      manifest: r.manifest,
      manifestKey: r.manifestKey,
      keyring,
      inventory: r.inventory,
      scratchUrl: pg.url,
      copies: [{ name: "b", client: new S3Client(b, nodeHashing) }],
    });
    expect(sealed.drill.verdict).toBe("pass");
    expect(sealed.copies).toEqual([{ name: "b", ok: true }]);
    for (const t of [a, b]) {
      const m = parseManifest(await new Response((await new S3Client(t, nodeHashing).get(r.manifestKey)).body).text(), r.manifestKey);
      expect(m.status).toBe("sealed");
      expect(m.artifact.sha256).toBe(r.manifest.artifact.sha256);
    }
  });

  it("fails only the copy whose store dies mid-upload: the other is stored and sealed, the failure recorded", async () => {
    const [good, flakyTarget] = [await freshBucket("copy-good"), await freshBucket("copy-flaky")];
    proxy = await startTcpProxy(flakyTarget.endpoint);
    const flaky = { ...flakyTarget, endpoint: proxy.url };
    // The store dies once the flaky copy's upload is well under way.
    void proxy.waitForBytesUp(PART_BYTES + 1024 * 1024).then(() => proxy!.down());
    const r = await runBackup({
      db: "big",
      databaseUrl: pg.urlFor("big"),
      s3: flaky,
      name: "flaky",
      copies: [{ name: "good", s3: good }],
      prefix: "c",
      keyring,
      compression: "zstd",
      partSize: PART_BYTES,
    });
    // The healthy copy comes first: it is the one the drill reads.
    expect(r.copies[0]).toMatchObject({ name: "good", ok: true });
    expect(r.copies[1]).toMatchObject({ name: "flaky", ok: false, error: { code: expect.stringMatching(/^S3_/) } });
    expect(r.primary.endpoint).toBe(good.endpoint);
    expect(await objects(good, "c/")).toEqual([r.manifest.artifact.key, r.manifestKey].sort());
    expect(await objects(flakyTarget, "c/")).toEqual([]); // no artifact, no manifest in the bucket that failed
    const sealed = await sealBackup({ client: new S3Client(r.primary, nodeHashing), manifest: r.manifest, manifestKey: r.manifestKey, keyring, inventory: r.inventory, scratchUrl: pg.url });
    expect(sealed.manifest.status).toBe("sealed");
  });
});
