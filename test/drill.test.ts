// Restore drills against real PostgreSQL and Swift: sealing on exact counts, and every way a drill must refuse to seal.
import { accessSync, constants, existsSync, rmSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup, type BackupResult } from "../container/src/backup.ts";
import { judgeRestoreErrors } from "../container/src/drill.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { sealBackup } from "../container/src/seal.ts";
import { openStreamingDrill } from "../container/src/stream-drill.ts";
import { parseRestoreErrors } from "../container/src/stages/pg-restore.ts";
import type { DrillComparison } from "../src/shared/catalog/drill-record.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { parseManifest } from "../src/shared/catalog/manifest.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { openJson } from "../src/shared/format/sealed-json.ts";
import { tableCounts } from "./harness/compare.ts";
import { pgShareDir } from "./harness/pg-major.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";

const SEED_SQL = new URL("./fixtures/seed.sql", import.meta.url).pathname;
const keyring = parseKeyring(generateKey("drill").entry);
let pg: PgCluster;
let target: S3Target;
let client: S3Client;
let seeded: BackupResult;

async function readManifest(key: string) {
  return parseManifest(await new Response((await client.get(key)).body).text(), key);
}

beforeAll(async () => {
  pg = await startPostgres({ name: "drill" });
  await pg.createDatabase("seeded");
  await pg.psqlFile(SEED_SQL, "seeded");
  target = await freshBucket("drill");
  client = new S3Client(target, nodeHashing);
  seeded = await runBackup({ db: "seeded", databaseUrl: pg.urlFor("seeded"), s3: target, prefix: "d", keyring, compression: "zstd" });
});

afterAll(async () => {
  await pg?.stop();
});

describe("a drill of the seed database", () => {
  it("restores from the bucket into a throwaway cluster, matches every table's count, and seals the manifest", async () => {
    let clusterDir = "";
    const steps = new Set<string>();
    const { manifest, drill } = await sealBackup({
      client,
      manifest: seeded.manifest,
      manifestKey: seeded.manifestKey,
      keyring,
      inventory: seeded.inventory,
      onNotice: (m) => (clusterDir = /in (\S+) \(unix socket only\)/.exec(m)?.[1] ?? clusterDir),
      onProgress: (p) => steps.add(p.step),
    });
    expect(drill.reason).toBeUndefined();
    expect(drill.verdict).toBe("pass");
    expect([...steps]).toEqual(["preparing", "restoring", "counting"]);
    expect(drill.restoreFlags).toEqual(["--no-owner", "--no-acl"]);

    const expected = await tableCounts(pg, "seeded");
    const actual = Object.fromEntries(drill.comparison!.tables.map((t) => [t.table, t.actual]));
    expect(actual).toEqual(expected);
    expect(drill.rows).toBe(Object.values(expected).reduce((a, b) => a + b, 0));
    expect(drill.tables).toBe(Object.keys(expected).length);
    expect(drill.comparison!.largeObjects.actual).toBeGreaterThan(0);
    expect(drill.comparison!.failure).toBeNull();

    // The stored manifest is the sealed one; table names only inside its sealed section.
    const stored = await readManifest(seeded.manifestKey);
    expect(stored).toEqual(manifest);
    expect(stored.status).toBe("sealed");
    expect(stored.drill).toMatchObject({ verdict: "pass", tables: drill.tables, rows: drill.rows, target: "local-cluster" });
    const plain = JSON.stringify(stored);
    for (const t of Object.keys(expected)) expect(plain).not.toContain(t.split(".")[1]);
    const sealedDrill = await openJson<{ comparison: DrillComparison }>(keyring, stored.sealed!.drill!, "drill");
    expect(sealedDrill.comparison.tables).toEqual(drill.comparison!.tables);

    expect(clusterDir).not.toBe("");
    expect(existsSync(clusterDir)).toBe(false);
  });

  it("fails with DRILL_ROW_MISMATCH and marks the manifest drill-failed when a table restores with fewer rows than the dump declared", async () => {
    const inventory = structuredClone(seeded.inventory!);
    const victim = inventory.tables.find((t) => t.rows > 0)!;
    victim.rows += 1; // the dump "said" one more row than the restore can produce
    const { manifest, drill } = await sealBackup({ client, manifest: seeded.manifest, manifestKey: seeded.manifestKey, keyring, inventory });
    expect(drill).toMatchObject({ verdict: "fail", code: "DRILL_ROW_MISMATCH" });
    expect(drill.comparison!.tables.find((t) => t.table === `${victim.schema}.${victim.name}`)).toEqual({ table: `${victim.schema}.${victim.name}`, expected: victim.rows, actual: victim.rows - 1 });
    expect(manifest.status).toBe("drill-failed");
    expect((await readManifest(seeded.manifestKey)).status).toBe("drill-failed");
    expect(drill.reason).not.toContain(victim.name);
  });

  it("fails with DRILL_OBJECTS_MISMATCH when the dump declared an index the restore does not have", async () => {
    const inventory = structuredClone(seeded.inventory!);
    inventory.objects.INDEX = (inventory.objects.INDEX ?? 0) + 1;
    const { drill } = await sealBackup({ client, manifest: seeded.manifest, manifestKey: seeded.manifestKey, keyring, inventory, scratchUrl: pg.url });
    expect(drill).toMatchObject({ verdict: "fail", code: "DRILL_OBJECTS_MISMATCH" });
    expect(drill.comparison!.objects.find((o) => o.kind === "indexes")).toMatchObject({ expected: inventory.objects.INDEX, actual: inventory.objects.INDEX - 1 });
  });

  it("ends a new backup drill-skipped, never crashing, when the disk cannot hold the restore", async () => {
    const { manifest, drill } = await sealBackup({ client, manifest: seeded.manifest, manifestKey: seeded.manifestKey, keyring, inventory: seeded.inventory, freeBytes: () => 1024, firstDrill: true });
    expect(drill).toMatchObject({ verdict: "skipped", code: "DRILL_SKIPPED" });
    expect(drill.reason).toMatch(/not enough disk for a local drill: .* needed, 0\.0 GiB free/);
    expect(manifest.status).toBe("drill-skipped");
  });

  it("leaves an existing backup's manifest untouched when a later drill has no disk: DRILL_SKIPPED is thrown, not recorded", async () => {
    const before = await new Response((await client.get(seeded.manifestKey)).body).text();
    await expect(sealBackup({ client, manifest: seeded.manifest, manifestKey: seeded.manifestKey, keyring, inventory: seeded.inventory, freeBytes: () => 1024 })).rejects.toMatchObject({
      code: "DRILL_SKIPPED",
    });
    expect(await new Response((await client.get(seeded.manifestKey)).body).text()).toBe(before);
  });

  it("drills into a fresh database on a scratch server and drops it afterwards", async () => {
    const { drill } = await sealBackup({ client, manifest: seeded.manifest, manifestKey: seeded.manifestKey, keyring, inventory: seeded.inventory, scratchUrl: pg.url });
    expect(drill).toMatchObject({ verdict: "pass", target: "scratch-database" });
    expect(await pg.psql("select count(*) from pg_database where datname like 'pgseal_drill_%'")).toBe("0");
  });

  it("reads the inventory from the manifest's sealed section when the backup is drilled later", async () => {
    const { drill } = await sealBackup({ client, manifest: seeded.manifest, manifestKey: seeded.manifestKey, keyring });
    expect(drill.verdict, `${drill.code}: ${drill.reason}`).toBe("pass");
  });
});

describe("the streaming drill (for backups the deployment cannot decrypt)", () => {
  it("restores the dump as it streams, concurrently with the upload, then checks the stored object by size and sha256", async () => {
    let drill: Awaited<ReturnType<typeof openStreamingDrill>> | undefined;
    const r = await runBackup(
      { db: "streamed", databaseUrl: pg.urlFor("seeded"), s3: target, prefix: "d", keyring, compression: "zstd" },
      { openPlainTee: async (sourceBytes) => (drill = await openStreamingDrill({ sourceBytes, scratchUrl: pg.url })).writable },
    );
    const record = await drill!.finish({ client, manifest: r.manifest, inventory: r.inventory });
    expect(record.reason).toBeUndefined();
    expect(record.verdict).toBe("pass");
    expect(Object.fromEntries(record.comparison!.tables.map((t) => [t.table, t.actual]))).toEqual(await tableCounts(pg, "seeded"));
  });

  it("fails when the stored object is not what was encrypted, even though the restore matched", async () => {
    let drill: Awaited<ReturnType<typeof openStreamingDrill>> | undefined;
    const r = await runBackup(
      { db: "streamed-bad", databaseUrl: pg.urlFor("seeded"), s3: target, prefix: "d", keyring, compression: "zstd" },
      { openPlainTee: async (sourceBytes) => (drill = await openStreamingDrill({ sourceBytes, scratchUrl: pg.url })).writable },
    );
    const bytes = new Uint8Array(await new Response((await client.get(r.manifest.artifact.key)).body).arrayBuffer());
    bytes[100] ^= 0xff;
    await client.put(r.manifest.artifact.key, bytes);
    const record = await drill!.finish({ client, manifest: r.manifest, inventory: r.inventory });
    expect(record.verdict).toBe("fail");
    expect(record.reason).toMatch(/the restore matched, but the stored object failed its check/);
  });
});

describe("drills that must not seal", () => {
  it("fails with the artifact's integrity error when a byte of the stored object was changed", async () => {
    const r = await runBackup({ db: "corrupt", databaseUrl: pg.urlFor("seeded"), s3: target, prefix: "d", keyring, compression: "gzip" });
    const bytes = new Uint8Array(await new Response((await client.get(r.manifest.artifact.key)).body).arrayBuffer());
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    await client.put(r.manifest.artifact.key, bytes);
    const { manifest, drill } = await sealBackup({ client, manifest: r.manifest, manifestKey: r.manifestKey, keyring, inventory: r.inventory });
    expect(drill.verdict).toBe("fail");
    expect(["ARTIFACT_CORRUPT", "S3_INTEGRITY", "FORMAT_AUTH_FAILED"]).toContain(drill.code);
    expect(manifest.status).toBe("drill-failed");
  });

  it("passes a dump whose objects belong to roles the drill cluster lacks, and keeps pg_restore's output", async () => {
    await pg.psql("create role app_owner; create database owned owner app_owner;");
    await pg.psql(
      "set role app_owner; create table t(id int primary key, v text); insert into t select g, 'v' || g from generate_series(1, 500) g; alter default privileges for role app_owner grant select on tables to public;",
      "owned",
    );
    const r = await runBackup({ db: "owned", databaseUrl: pg.urlFor("owned"), s3: target, prefix: "d", keyring, compression: "zstd" });
    const { drill } = await sealBackup({ client, manifest: r.manifest, manifestKey: r.manifestKey, keyring, inventory: r.inventory });
    expect(drill.verdict).toBe("pass");
    expect(drill.comparison!.tables).toEqual([{ table: "public.t", expected: 500, actual: 500 }]);
  });
});

describe("a dump that needs an extension the drill's PostgreSQL lacks", () => {
  // A real extension, installed for the source and removed before the drill: the drill cluster
  // shares the installation, so this is exactly what an image without the extension looks like.
  const extDir = `${pgShareDir()}/extension`;
  const files = [`${extDir}/pgseal_test_ext.control`, `${extDir}/pgseal_test_ext--1.0.sql`];
  const writable = (() => {
    try {
      accessSync(extDir, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  })();

  // Never skipped silently: a run that cannot write there fails and says how to run it.
  it("fails with DRILL_EXTENSION_MISSING naming the extension, and does not seal", async () => {
    if (!writable) throw new Error(`${extDir} is not writable: run the suite as root (CI does), or with PGSEAL_TEST_PG=17/18, whose installation in .cache/pg is yours`);
    writeFileSync(files[0], "default_version = '1.0'\nrelocatable = true\ncomment = 'pgseal drill test'\n");
    writeFileSync(files[1], "CREATE FUNCTION pgseal_test_ext_answer() RETURNS int LANGUAGE sql AS 'SELECT 42';\n");
    try {
      await pg.createDatabase("withext");
      await pg.psql("create extension pgseal_test_ext; create table t(id int); insert into t values (1);", "withext");
      const r = await runBackup({ db: "withext", databaseUrl: pg.urlFor("withext"), s3: target, prefix: "d", keyring, compression: "zstd" });
      for (const f of files) rmSync(f, { force: true });
      const { manifest, drill } = await sealBackup({ client, manifest: r.manifest, manifestKey: r.manifestKey, keyring, inventory: r.inventory });
      expect(drill).toMatchObject({ verdict: "fail", code: "DRILL_EXTENSION_MISSING" });
      expect(drill.reason).toContain("'pgseal_test_ext'");
      expect(drill.warnings.join("\n")).toContain("pgseal_test_ext");
      expect(manifest.status).toBe("drill-failed");
    } finally {
      for (const f of files) rmSync(f, { force: true });
    }
  });
});

describe("judging pg_restore's errors", () => {
  // PostgreSQL 15's own words (captured from psql), in pg_restore's framing.
  const stderr = [
    'pg_restore: error: could not execute query: ERROR:  extension "vector" is not available',
    'DETAIL:  Could not open extension control file "/usr/share/postgresql/15/extension/vector.control": No such file or directory.',
    "HINT:  The extension must first be installed on the system where PostgreSQL is running.",
    "Command was: CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;",
    "pg_restore: warning: errors ignored on restore: 1",
  ].join("\n");

  it("names a missing extension with DRILL_EXTENSION_MISSING", () => {
    const errors = parseRestoreErrors(stderr);
    expect(errors).toHaveLength(1);
    expect(errors[0].command).toBe("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;");
    expect(judgeRestoreErrors(errors).fatal).toEqual({ code: "DRILL_EXTENSION_MISSING", message: expect.stringContaining("'vector'") });
  });

  it("tolerates missing roles and Neon's cloud_admin default privileges, but not other errors", () => {
    const tolerated = judgeRestoreErrors([
      { message: 'ERROR:  role "cloud_admin" does not exist', command: "ALTER DEFAULT PRIVILEGES FOR ROLE cloud_admin IN SCHEMA public GRANT ALL ON TABLES TO neon_superuser;" },
      { message: 'ERROR:  role "app" does not exist', command: "ALTER TABLE public.t OWNER TO app;" },
    ]);
    expect(tolerated.fatal).toBeNull();
    expect(tolerated.tolerated).toHaveLength(2);
    const fatal = judgeRestoreErrors([{ message: 'ERROR:  relation "public.t" does not exist', command: "COPY public.t (id) FROM stdin;" }]);
    expect(fatal.fatal?.code).toBe("DRILL_RESTORE_ERRORS");
  });
});
