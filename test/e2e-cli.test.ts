// End to end through the `pgseal` CLI as a real process: seed → backup to Swift → restore → identical data.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { parseManifest } from "../src/shared/catalog/manifest.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { freshBucket } from "./harness/use-s3.ts";
import { fingerprint } from "./harness/compare.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";

const SEED_SQL = new URL("./fixtures/seed.sql", import.meta.url).pathname;

let pg: PgCluster;
let target: S3Target;
let env: Record<string, string>;
let sourceUrl: string;

beforeAll(async () => {
  pg = await startPostgres();
  sourceUrl = await pg.createDatabase("seeded");
  await pg.psqlFile(SEED_SQL, "seeded");
  target = await freshBucket("e2e-cli");
  env = { ...pgsealEnv(target, generateKey("e2e").entry), PGSEAL_PREFIX: "e2e" };
});

afterAll(async () => {
  await pg?.stop();
});

describe.each(["zstd", "gzip"] as const)("pgseal backup and restore with %s", (compression) => {
  it("restores the seed database into a new database with identical tables, sequences and large objects", async () => {
    const backup = await pgseal(["backup", "--name", `seed-${compression}`, "--compression", compression], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(backup.stderr).not.toContain(pg.password);
    expect(backup.code, backup.stderr).toBe(0);
    const artifactKey = backup.stdout.trim();
    const ext = compression === "zstd" ? ".dump.zst.pgseal" : ".dump.gz.pgseal";
    expect(artifactKey).toMatch(new RegExp(`^e2e/seed-${compression}/\\d{4}/\\d{2}/seed-${compression}_\\d{8}T\\d{6}Z${ext.replace(/\./g, "\\.")}$`));

    // What a plain S3 listing shows: the artifact and its manifest, nothing else.
    const client = new S3Client(target, nodeHashing);
    const listed = [];
    for await (const o of client.list(`e2e/seed-${compression}/`)) listed.push(o.key);
    const manifestKey = artifactKey.replace(ext, ".manifest.json");
    expect(listed.sort()).toEqual([artifactKey, manifestKey].sort());
    const manifest = parseManifest(await new Response((await client.get(manifestKey)).body).text(), manifestKey);
    expect(manifest).toMatchObject({ db: `seed-${compression}`, status: "uploaded", compression: { algorithm: compression } });
    expect(manifest.artifact.bytes).toBe((await client.head(artifactKey))!.size);
    expect(JSON.stringify(manifest)).not.toContain(pg.password);

    const restoredUrl = await pg.createDatabase(`restored_${compression}`);
    const restore = await pgseal(["restore", artifactKey, "--target", restoredUrl], env);
    expect(restore.code, restore.stderr).toBe(0);
    const [a, b] = await Promise.all([fingerprint(pg, "seeded"), fingerprint(pg, `restored_${compression}`)]);
    expect(Object.keys(a.tables).length).toBeGreaterThan(10);
    expect(Object.keys(a.largeObjects).length).toBeGreaterThan(0);
    expect(b).toEqual(a);
  });
});

describe("pgseal list, verify and decrypt", () => {
  it("lists the backup, verifies it with and without the key, and decrypts it to a pg_dump archive", async () => {
    const backup = await pgseal(["backup", "--name", "tools"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(backup.code, backup.stderr).toBe(0);
    const key = backup.stdout.trim();

    const list = await pgseal(["list", "--name", "tools", "--json"], env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ db: "tools", status: "uploaded", key })]);

    const withKey = await pgseal(["verify", key], env);
    expect(withKey.code, withKey.stderr).toBe(0);
    expect(withKey.stdout).toMatch(/every encrypted segment/);
    const { PGSEAL_KEYRING: _, ...noKeyEnv } = env;
    const withoutKey = await pgseal(["verify", key, "--without-key"], { ...noKeyEnv, PGSEAL_KEYRING: "" });
    expect(withoutKey.code, withoutKey.stderr).toBe(0);

    const out = `${pg.dataDir}/../tools.dump`;
    const dec = await pgseal(["decrypt", "--name", "tools", "--output", out], env);
    expect(dec.code, dec.stderr).toBe(0);
    expect(readFileSync(out).subarray(0, 5).toString()).toBe("PGDMP");
  });
});

describe("pgseal drill", () => {
  it("seals a backup with backup --drill, drills it again by key, and list shows it sealed", async () => {
    const backup = await pgseal(["backup", "--name", "drilled", "--drill"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(/drill pass: restored in [\d.]+s, \d+ tables and \d+ rows compared → sealed/);
    const key = backup.stdout.trim();

    const again = await pgseal(["drill", key, "--json"], env);
    expect(again.code, again.stderr).toBe(0);
    const result = JSON.parse(again.stdout) as { status: string; drill: { verdict: string; comparison: { tables: { table: string; expected: number; actual: number }[] } } };
    expect(result.status).toBe("sealed");
    for (const t of result.drill.comparison.tables) expect(t.actual).toBe(t.expected);
    expect(result.drill.comparison.tables.length).toBeGreaterThan(10);

    const list = await pgseal(["list", "--name", "drilled", "--json"], env);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ key, status: "sealed" })]);
  });
});
