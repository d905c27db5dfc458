// Content-exact drills against real PostgreSQL and Swift: the seed seals content-exact, and a restore that keeps every count but not every value is caught.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup, type BackupResult } from "../container/src/backup.ts";
import type { ChunkPool } from "../src/shared/pipeline/chunk-pool.ts";
import { createHash } from "node:crypto";
import { balanceTables, READBACK_SESSIONS, TableSplitter } from "../container/src/drill-digest.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { pgEnv } from "../container/src/pg-process.ts";
import { runCommand } from "../container/src/run-command.ts";
import { sealBackup } from "../container/src/seal.ts";
import { openStreamingDrill } from "../container/src/stream-drill.ts";
import { findPgTools } from "../container/src/pg-tools.ts";
import type { PgConnection } from "../src/shared/pg-url.ts";
import { describeProof } from "../src/shared/catalog/drill-record.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { parseManifest } from "../src/shared/catalog/manifest.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";

const SEED_SQL = new URL("./fixtures/seed.sql", import.meta.url).pathname;
const keyring = parseKeyring(generateKey("content").entry);
let pg: PgCluster;
let target: S3Target;
let client: S3Client;
let seeded: BackupResult;

/** Runs SQL in the restored database: the test hook between restore and comparison. */
const alter = (sql: string) => async (conn: PgConnection) => {
  const tools = await findPgTools();
  const r = await runCommand(tools.psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conn.urlWithoutPassword, "-c", sql], { env: pgEnv(conn) });
  if (r.code !== 0) throw new Error(`altering the restore failed: ${r.stderr}`);
};

const drill = (afterRestore?: (conn: PgConnection) => Promise<void>, b: BackupResult = seeded) =>
  sealBackup({ client, manifest: b.manifest, manifestKey: b.manifestKey, keyring, inventory: b.inventory, afterRestore });

beforeAll(async () => {
  pg = await startPostgres({ name: "content" });
  await pg.createDatabase("seeded");
  await pg.psqlFile(SEED_SQL, "seeded");
  target = await freshBucket("content");
  client = new S3Client(target, nodeHashing);
  seeded = await runBackup({ db: "seeded", databaseUrl: pg.urlFor("seeded"), s3: target, prefix: "c", keyring, compression: "zstd" });
});

afterAll(async () => {
  await pg?.stop();
});

describe("splitting psql's output into tables", () => {
  it("finds each table's end only at a marker line, wherever the chunks are cut", () => {
    // Rows that look like markers but are not: an escaped backslash before P, a \P inside a line.
    const tables = ["a\tb\n\\\\P\nx \\P\n", "", "\\\\P\n", "last\n"];
    const out = Buffer.from(tables.map((t) => `${t}\\P\n`).join(""));
    const expected = tables.map((t) => ({ sha256: createHash("sha256").update(t).digest("hex"), bytes: Buffer.byteLength(t) }));
    for (let size = 1; size <= out.length; size++) {
      const s = new TableSplitter();
      for (let at = 0; at < out.length; at += size) s.push(out.subarray(at, at + size));
      expect(s.results, `chunks of ${size}`).toEqual(expected);
      expect(s.leftover).toBe(0);
    }
  });
});

describe("splitting the read-back across psql sessions", () => {
  it("puts a table that outweighs the rest alone in one session, every table in exactly one, each session in inventory order", () => {
    const tables = [{ bytes: 10 }, { bytes: 5000 }, { bytes: 30 }, {}, { bytes: 20 }];
    expect(balanceTables(tables, 2)).toEqual([[1], [0, 2, 3, 4]]);
    // Balanced: the heaviest first, each onto the lighter session so far.
    expect(balanceTables([{ bytes: 4 }, { bytes: 3 }, { bytes: 3 }, { bytes: 2 }], 2)).toEqual([
      [0, 3],
      [1, 2],
    ]);
    expect(balanceTables([{ bytes: 1 }], 2)).toEqual([[0]]);
    expect(balanceTables([], 2)).toEqual([]);
    expect(READBACK_SESSIONS).toBe(2);
  });
});

describe("a content-exact drill of the seed database", () => {
  it("hashes every table and large object while dumping, reads them back after the restore, and seals content-exact", async () => {
    const inv = seeded.inventory!;
    expect(inv.tables.every((t) => /^[0-9a-f]{64}$/.test(t.sha256 ?? ""))).toBe(true);
    expect(inv.largeObjectData).toMatchObject({ count: 2, bytes: 20000 * 16 + 6 });
    const { manifest, drill: d } = await drill();
    expect(d.reason).toBeUndefined();
    expect(d.verdict).toBe("pass");
    const content = d.comparison!.content!;
    expect(content).toMatchObject({ proof: "content-exact", tables: inv.tables.length, mismatched: [], largeObjects: { count: 2, match: true } });
    expect(content.bytes).toBe(inv.tables.reduce((s, t) => s + t.bytes!, 0) + inv.largeObjectData!.bytes);
    // What was proven is in the clear (numbers only), in the stored manifest too.
    const stored = parseManifest(await new Response((await client.get(seeded.manifestKey)).body).text(), seeded.manifestKey);
    expect(stored.status).toBe("sealed");
    expect(stored.drill!.content).toEqual({ proof: "content-exact", tables: inv.tables.length, bytes: content.bytes });
    expect(manifest.drill!.content).toEqual(stored.drill!.content);
    expect(describeProof(stored.drill!.content)).toMatch(/^content-exact: \d+ tables, [\d.]+ [KMGT]?i?B hashed$/);
  });

  it("seals content-exact a backup whose source buffers and sealed records were reused, each poisoned the moment it was handed back", async () => {
    // ~40 MB of varied rows: some 80 chunks of 512 KiB, far more than the pipeline holds at once, so buffers go round.
    await pg.createDatabase("pooled");
    await pg.psql("create table t as select g as id, md5(g::text) || repeat(md5((g * 7)::text), 3) as v from generate_series(1, 300000) g;", "pooled");
    let pool: ChunkPool | undefined;
    let records: ChunkPool | undefined;
    const b = await runBackup(
      // 4 KiB records and 5 MiB parts, one uploading at a time: thousands of records, most of them after the first part.
      { db: "pooled", databaseUrl: pg.urlFor("pooled"), s3: target, prefix: "c", keyring, compression: "zstd", segmentSize: 4096, partSize: 5 * 1024 * 1024, concurrency: 1 },
      { poisonReleasedChunks: true, onChunkPool: (p) => (pool = p), onRecordPool: (p) => (records = p) },
    );
    // Only a handful of buffers are ever in flight (stream high-water marks; 7 when measured), so most of the ~80 chunks reused one.
    expect(pool!.reused).toBeGreaterThan(pool!.made * 2);
    // Records come back once their part is uploaded: the part uploading and the one filling hold at most
    // 2 × 1,280 of them (1,436-1,478 made when measured), and the ~12 MB artifact needs ~2,900.
    expect(records!.made).toBeLessThanOrEqual(2 * Math.ceil((5 * 1024 * 1024) / (4096 + 20)) + 8);
    expect(records!.reused).toBeGreaterThan(1000);
    const { drill: d } = await drill(undefined, b);
    expect(d.reason).toBeUndefined();
    expect(d.verdict).toBe("pass");
    expect(d.comparison!.content).toMatchObject({ proof: "content-exact", mismatched: [] });
  });

  it("fails with DRILL_CONTENT_MISMATCH naming the table when one value changed but every count still matches", async () => {
    const { manifest, drill: d } = await drill(alter("UPDATE public.customers SET note = 'changed' WHERE id = 1"));
    expect(d).toMatchObject({ verdict: "fail", code: "DRILL_CONTENT_MISMATCH" });
    expect(d.comparison!.tables.every((t) => t.actual === t.expected)).toBe(true);
    expect(d.comparison!.content!.mismatched.map((m) => m.table)).toEqual(["public.customers"]);
    expect(d.reason).toMatch(/1 of \d+ tables restored with the same row count but other content/);
    expect(d.reason).not.toContain("customers");
    expect(manifest.status).toBe("drill-failed");
  });

  it("names a changed table read by the second psql session, and only it", async () => {
    const inv = seeded.inventory!;
    const [first, second] = balanceTables(inv.tables);
    // A table of the second session with rows and columns: moving its first row to the heap's end keeps every value and count.
    const t = second.map((i) => inv.tables[i]).find((x) => x.rows > 1 && x.columns && x.name !== "customers")!;
    expect(t, "the seed has such a table in the second session").toBeDefined();
    expect(first.map((i) => inv.tables[i].name)).not.toContain(t.name);
    const rel = `"${t.schema.replaceAll('"', '""')}"."${t.name.replaceAll('"', '""')}"`;
    const col = t.columns!.slice(1, -1).split(", ")[0];
    const { drill: d } = await drill(alter(`UPDATE ${rel} SET ${col} = ${col} WHERE ctid = (SELECT min(ctid) FROM ${rel})`));
    expect(d).toMatchObject({ verdict: "fail", code: "DRILL_CONTENT_MISMATCH" });
    expect(d.comparison!.tables.every((c) => c.actual === c.expected)).toBe(true);
    expect(d.comparison!.content!.mismatched.map((m) => m.table)).toEqual([`${t.schema}.${t.name}`]);
  });

  it("drops the content result when a count differs: the count names the problem, content is not reported", async () => {
    const { drill: d } = await drill(alter("INSERT INTO public.empty_table VALUES (1, 'one more row')"));
    expect(d).toMatchObject({ verdict: "fail", code: "DRILL_ROW_MISMATCH" });
    expect(d.comparison!.content).toBeNull();
  });

  it("catches a change invisible to counts in a large object's data", async () => {
    const { drill: d } = await drill(alter("SELECT lo_put(424243, 0, '\\xff')"));
    expect(d).toMatchObject({ verdict: "fail", code: "DRILL_CONTENT_MISMATCH" });
    expect(d.comparison!.content!.largeObjects).toMatchObject({ count: 2, match: false });
    expect(d.comparison!.content!.mismatched).toEqual([]);
  });

  it("catches a sequence set to another value", async () => {
    const seq = seeded.inventory!.sequences[0];
    const { drill: d } = await drill(alter(`SELECT setval('"${seq.schema}"."${seq.name}"', ${Number(seq.value) + 1000})`));
    expect(d).toMatchObject({ verdict: "fail", code: "DRILL_SEQUENCE_MISMATCH" });
  });

  it("reports a reordered table: the digest follows heap order, which a fresh restore keeps (docs/DRILLS.md)", async () => {
    const { drill: d } = await drill(alter("CREATE TEMP TABLE keep AS SELECT * FROM public.blobs; DELETE FROM public.blobs; INSERT INTO public.blobs SELECT * FROM keep ORDER BY id DESC"));
    expect(d).toMatchObject({ verdict: "fail", code: "DRILL_CONTENT_MISMATCH" });
    expect(d.comparison!.content!.mismatched.map((m) => m.table)).toEqual(["public.blobs"]);
  });

  it("says counts only, and why, for an inventory made before content digests", async () => {
    const old = structuredClone(seeded.inventory!);
    delete old.contentDigest;
    const { drill: d } = await sealBackup({ client, manifest: seeded.manifest, manifestKey: seeded.manifestKey, keyring, inventory: old });
    expect(d.verdict).toBe("pass");
    expect(d.comparison!.content).toMatchObject({ proof: "counts-only", reason: expect.stringMatching(/no content digests/) });
    expect(describeProof({ proof: "counts-only", tables: 0, bytes: 0, reason: "x" })).toBe("counts only (x)");
  });
});

describe("amcheck on the restored indexes (optional, reported apart)", () => {
  it("checks every B-tree index with heapallindexed, names a corrupt one, and leaves the verdict to the comparison", async () => {
    // An expression index whose function changes meaning after the build: heap and index disagree.
    const lie = alter(
      "CREATE FUNCTION public.f(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1'; CREATE INDEX lying ON public.blobs (public.f(id));" +
        " CREATE OR REPLACE FUNCTION public.f(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT -$1'",
    );
    const { drill: d } = await sealBackup({ client, manifest: seeded.manifest, manifestKey: seeded.manifestKey, keyring, inventory: seeded.inventory, amcheck: true, afterRestore: lie });
    const am = d.comparison!.amcheck!;
    expect(am.ran).toBe(true);
    expect(am.indexes).toBeGreaterThan(5);
    expect(am.failed.map((f) => f.index)).toEqual(["public.lying"]);
    // The extra index makes the object counts differ: that, not amcheck, decides the verdict.
    expect(d.code).toBe("DRILL_OBJECTS_MISMATCH");
  });
});

describe("content digests under source settings pg_dump does not set", () => {
  it("seals content-exact when the source database has another TimeZone and bytea_output=escape", async () => {
    await pg.createDatabase("elsewhere");
    await pg.psql("ALTER DATABASE elsewhere SET timezone = 'America/St_Johns'; ALTER DATABASE elsewhere SET bytea_output = 'escape';");
    await pg.psql(
      "CREATE TABLE t(id int, at timestamptz, b bytea, f float8, iv interval); INSERT INTO t SELECT g, '2024-06-01 12:00:00+00'::timestamptz + g * interval '1 day', decode(md5(g::text), 'hex'), g / 3.0, g * interval '1 hour 1 minute' FROM generate_series(1, 1000) g;",
      "elsewhere",
    );
    const b = await runBackup({ db: "elsewhere", databaseUrl: pg.urlFor("elsewhere"), s3: target, prefix: "c", keyring, compression: "zstd" });
    expect(b.inventory!.session).toEqual({ timeZone: "America/St_Johns", byteaOutput: "escape" });
    const { drill: d } = await drill(undefined, b);
    expect(d.reason).toBeUndefined();
    expect(d.comparison!.content).toMatchObject({ proof: "content-exact", tables: 1, mismatched: [] });
  });
});

describe("content digests on awkward schemas", () => {
  it("reads pg_dump's column order back for an inheritance child whose restored columns are ordered otherwise, and a table without columns", async () => {
    await pg.createDatabase("inherit");
    await pg.psql(
      "CREATE TABLE p(a int); CREATE TABLE c(b text) INHERITS (p); ALTER TABLE p ADD COLUMN z int; INSERT INTO c VALUES (1, 'one', 10), (2, 'two', 20);" +
        " CREATE TABLE nothing(); INSERT INTO nothing DEFAULT VALUES; INSERT INTO nothing DEFAULT VALUES;",
      "inherit",
    );
    const b = await runBackup({ db: "inherit", databaseUrl: pg.urlFor("inherit"), s3: target, prefix: "c", keyring, compression: "zstd" });
    expect(Object.fromEntries(b.inventory!.tables.map((t) => [t.name, t.columns]))).toEqual({ c: "(a, b, z)", nothing: "", p: "(a, z)" });
    let restoredOrder = "";
    const look = async (conn: PgConnection) => {
      const tools = await findPgTools();
      const sql = "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'public.c'::regclass AND attnum > 0";
      restoredOrder = (await runCommand(tools.psql, ["-X", "-A", "-t", "-d", conn.urlWithoutPassword, "-c", sql], { env: pgEnv(conn) })).stdout.trim();
    };
    const { drill: d } = await drill(look, b);
    expect(restoredOrder).toBe("a,z,b");
    expect(d.reason).toBeUndefined();
    expect(d.comparison!.content).toMatchObject({ proof: "content-exact", tables: 3, mismatched: [] });
  });
});

describe("the streaming drill (key custody) hashes too", () => {
  it("compares content after restoring the dump as it streamed", async () => {
    let streaming: Awaited<ReturnType<typeof openStreamingDrill>> | undefined;
    const r = await runBackup(
      { db: "streamed", databaseUrl: pg.urlFor("seeded"), s3: target, prefix: "c", keyring, compression: "zstd" },
      { openPlainTee: async (sourceBytes) => (streaming = await openStreamingDrill({ sourceBytes, scratchUrl: pg.url })).writable },
    );
    const record = await streaming!.finish({ client, manifest: r.manifest, inventory: r.inventory });
    expect(record.verdict).toBe("pass");
    expect(record.comparison!.content).toMatchObject({ proof: "content-exact", tables: r.inventory!.tables.length, mismatched: [] });
  });
});
