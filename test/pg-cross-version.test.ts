// Across PostgreSQL majors, with real servers and tools of 15, 17 and 18: newer pg_dump against an older server, restores into older servers, drills with newer tools.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { findPgTools, readArchiveVersion } from "../container/src/pg-tools.ts";
import { openDump } from "../container/src/restore.ts";
import { pgRestoreSink } from "../container/src/stages/pg-restore.ts";
import { isPgsealError } from "../src/shared/errors.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { parseManifest, type Manifest } from "../src/shared/catalog/manifest.ts";
import { parsePgUrl } from "../src/shared/pg-url.ts";
import { runPipeline, stage } from "../src/shared/pipeline/pipeline.ts";
import { dumpInventory, type DumpInventory } from "../container/src/stages/dump-inventory.ts";
import { pgDumpSource } from "../container/src/stages/pg-dump.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { fingerprint } from "./harness/compare.ts";
import { pgBinDir } from "./harness/pg-major.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { spawnStreamer } from "./harness/streamer.ts";
import { freshBucket } from "./harness/use-s3.ts";

const SEED_SQL = new URL("./fixtures/seed.sql", import.meta.url).pathname;
const key = generateKey("cross");
let pg15: PgCluster;
let pg17: PgCluster;
let target: S3Target;
let client: S3Client;
let env: Record<string, string>;
const bin = { 15: "", 18: "" };
/** The seed database backed up from the 15 server by pg_dump 18. */
let by18: { key: string; manifest: Manifest };

async function manifestOf(artifactKey: string): Promise<Manifest> {
  const manifestKey = artifactKey.replace(/\.dump\.(zst|gz)\.pgseal$/, ".manifest.json");
  return parseManifest(await new Response((await client.get(manifestKey)).body).text(), manifestKey);
}

async function backup(name: string, pgBin: string, extra: string[] = []): Promise<{ key: string; manifest: Manifest; stderr: string }> {
  const r = await pgseal(["backup", "--name", name, ...extra], { ...env, PGSEAL_PG_BIN: pgBin, PGSEAL_DATABASE_URL: pg15.urlFor("seeded") });
  expect(r.code, r.stderr).toBe(0);
  const artifactKey = r.stdout.trim();
  return { key: artifactKey, manifest: await manifestOf(artifactKey), stderr: r.stderr };
}

beforeAll(async () => {
  bin[15] = pgBinDir(15);
  bin[18] = pgBinDir(18);
  [pg15, pg17] = await Promise.all([startPostgres({ name: "cross15", major: 15 }), startPostgres({ name: "cross17", major: 17 })]);
  await pg15.createDatabase("seeded");
  await pg15.psqlFile(SEED_SQL, "seeded");
  target = await freshBucket("cross-version");
  client = new S3Client(target, nodeHashing);
  env = { ...pgsealEnv(target, key.entry), PGSEAL_PREFIX: "x" };
  by18 = await backup("by18", bin[18]);
});

afterAll(async () => {
  await Promise.all([pg15?.stop(), pg17?.stop()]);
});

describe("pg_dump 18 against a PostgreSQL 15 server", () => {
  it("writes an archive of format 1.16 and records pg_dump 18 in the manifest", async () => {
    expect(pg15.tools.major).toBe(15);
    expect(by18.manifest.dump.pgDumpVersion).toMatch(/^18\./);
    expect(by18.manifest.source.serverVersion).toMatch(/^15\./);
    const chain = await openDump(client, by18.manifest, parseKeyring(key.entry));
    let first: Uint8Array | undefined;
    const sink = new WritableStream<Uint8Array>({ write: (c) => void (first ??= c) });
    await runPipeline({ ...chain, sink: { name: "first-bytes", writable: sink } });
    expect(readArchiveVersion(first!)).toEqual({ major: 1, minor: 16 });
  });
});

describe("restoring an archive of pg_dump 18 into older servers", () => {
  it("restores into a PostgreSQL 15 server with pg_restore 18: identical tables, sequences and large objects", async () => {
    const url = await pg15.createDatabase("into15");
    const r = await pgseal(["restore", by18.key, "--target", url], { ...env, PGSEAL_PG_BIN: bin[18] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("transaction_timeout");
    const [a, b] = await Promise.all([fingerprint(pg15, "seeded"), fingerprint(pg15, "into15")]);
    expect(Object.keys(a.tables).length).toBeGreaterThan(10);
    expect(b).toEqual(a);
  });

  it("restores into a PostgreSQL 17 server with pg_restore 18: identical data", async () => {
    const url = await pg17.createDatabase("into17");
    const r = await pgseal(["restore", by18.key, "--target", url], { ...env, PGSEAL_PG_BIN: bin[18] });
    expect(r.code, r.stderr).toBe(0);
    const [a, b] = await Promise.all([fingerprint(pg15, "seeded"), fingerprint(pg17, "into17")]);
    expect(b).toEqual(a);
  });

  it("into a 15 server stays one transaction: a conflict half-way leaves nothing behind", async () => {
    const url = await pg15.createDatabase("conflict15");
    // Functions come after schemas and types in a dump: "Accounting" exists by the time this fails.
    await pg15.psql("CREATE FUNCTION add_tax(amount numeric, rate numeric DEFAULT 0.2) RETURNS numeric LANGUAGE sql AS $$ SELECT 0::numeric $$", "conflict15");
    const r = await pgseal(["restore", by18.key, "--target", url], { ...env, PGSEAL_PG_BIN: bin[18] });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("error PG_RESTORE_FAILED");
    expect(r.stderr).toContain("add_tax");
    expect(r.stderr).not.toContain(pg15.password);
    expect(await pg15.psql("select count(*) from pg_namespace where nspname in ('Accounting', 'inventory')", "conflict15")).toBe("0");
  });

  it("with only PostgreSQL 15 tools fails with PG_RESTORE_TOO_OLD naming both versions and the fix, and touches nothing", async () => {
    const url = await pg15.createDatabase("tooold15");
    const r = await pgseal(["restore", by18.key, "--target", url], { ...env, PGSEAL_PG_BIN: bin[15] });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error PG_RESTORE_TOO_OLD");
    expect(r.stderr).toMatch(/pg_dump 18\.\d+ \(archive format 1\.16\)/);
    expect(r.stderr).toMatch(/pg_restore 15\.\d+/);
    expect(r.stderr).toContain("PostgreSQL 17 or newer");
    expect(r.stderr).toContain("PGSEAL_PG_BIN");
    expect(await pg15.psql("select count(*) from pg_namespace where nspname = 'inventory'", "tooold15")).toBe("0");
  });

  it("a sink whose pg_restore cannot read the archive fails with PG_RESTORE_TOO_OLD before running it (the drill's path)", async () => {
    const tools15 = await findPgTools({ binDir: bin[15] });
    const sink = pgRestoreSink(tools15, parsePgUrl(await pg15.createDatabase("sink15"), "target"), { keepGoing: true });
    const chain = await openDump(client, by18.manifest, parseKeyring(key.entry));
    const piped = await runPipeline({ ...chain, sink: { name: "pg_restore", writable: sink.writable, done: sink.done, stop: sink.stop } }).catch((e: unknown) => e);
    expect(isPgsealError(piped, "PG_RESTORE_TOO_OLD")).toBe(true);
    const done = await sink.done.catch((e: unknown) => e);
    expect(isPgsealError(done, "PG_RESTORE_TOO_OLD")).toBe(true);
    expect((done as Error).message).toContain("format 1.16");
  });
});

describe("drills across majors", () => {
  it("a drill of a pg_dump 15 archive with PostgreSQL 18 tools seals it", async () => {
    const by15 = await backup("by15", bin[15]);
    expect(by15.manifest.dump.pgDumpVersion).toMatch(/^15\./);
    const r = await pgseal(["drill", by15.key, "--json"], { ...env, PGSEAL_PG_BIN: bin[18] });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "sealed", drill: { verdict: "pass" } });
    expect((await manifestOf(by15.key)).status).toBe("sealed");
  });

  it("a drill with 18 tools on a PostgreSQL 15 scratch server seals: the server's unknown transaction_timeout is not held against it", async () => {
    const r = await backup("scratch15", bin[18], ["--drill", "--scratch-url", pg15.url]);
    expect(r.stderr).toMatch(/drill pass/);
    expect(r.manifest.status).toBe("sealed");
  });
});

/** The content digests the dump inventory takes while `pg_dump` of `binDir` dumps `url` (what a backup records). */
async function digestsOf(binDir: string, url: string): Promise<DumpInventory> {
  const tools = await findPgTools({ binDir });
  const inventory = dumpInventory();
  const dump = pgDumpSource({ tools, conn: parsePgUrl(url) });
  await runPipeline({ source: { name: "pg_dump", readable: dump.readable }, stages: [stage("inventory", inventory.stage)], sink: { name: "discard", writable: new WritableStream() } });
  return inventory.result;
}

describe("content digests across majors", () => {
  it("are the same for the same data on a 15 server dumped by pg_dump 15 and 18, and on a 17 server dumped by pg_dump 17", async () => {
    // The 17 server gets exactly the 15 server's data: the archive pg_dump 18 made of it, restored.
    const url17 = await pg17.createDatabase("digests17");
    const r = await pgseal(["restore", by18.key, "--target", url17], { ...env, PGSEAL_PG_BIN: bin[18] });
    expect(r.code, r.stderr).toBe(0);
    const [a, b, c] = await Promise.all([digestsOf(bin[15], pg15.urlFor("seeded")), digestsOf(bin[18], pg15.urlFor("seeded")), digestsOf(pgBinDir(17), url17)]);
    const tables = (i: DumpInventory) => Object.fromEntries(i.tables.map((t) => [`${t.schema}.${t.name}`, { rows: t.rows, sha256: t.sha256, bytes: t.bytes }]));
    expect(Object.keys(tables(a)).length).toBeGreaterThan(10);
    expect(Object.values(tables(a)).every((t) => typeof t.sha256 === "string")).toBe(true);
    expect([a.archiveVersion, b.archiveVersion, c.archiveVersion]).toEqual(["1.14", "1.16", "1.16"]);
    expect(tables(b)).toEqual(tables(a));
    expect(tables(c)).toEqual(tables(a));
    expect(b.largeObjectData).toEqual(a.largeObjectData);
    expect(c.largeObjectData).toEqual(a.largeObjectData);
  });
});

describe("the test harness", () => {
  it("starts the streamer with the run's PGSEAL_PG_BIN, so it dumps with the selected major", async () => {
    const saved = process.env.PGSEAL_PG_BIN;
    process.env.PGSEAL_PG_BIN = bin[18];
    const streamer = await spawnStreamer();
    try {
      const health = (await (await fetch(`${streamer.url}/health`)).json()) as { pgDump: string };
      expect(health.pgDump).toMatch(/^18\./);
    } finally {
      await streamer.stop();
      if (saved === undefined) delete process.env.PGSEAL_PG_BIN;
      else process.env.PGSEAL_PG_BIN = saved;
    }
  });
});
