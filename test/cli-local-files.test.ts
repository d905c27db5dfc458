// The CLI on a user's first day against real servers: downloaded artifacts, private plaintext, prefix hints, clear codes, --json results.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";

let pg: PgCluster;
let target: S3Target;
let env: Record<string, string>;
let artifactKey: string;
const dir = mkdtempSync(join(tmpdir(), "pgseal-local-files-"));

beforeAll(async () => {
  pg = await startPostgres({ name: "local-files" });
  const url = await pg.createDatabase("shop");
  await pg.psql("create table orders(id int primary key, note text); insert into orders select g, 'order ' || g from generate_series(1, 5000) g;", "shop");
  target = await freshBucket("local-files");
  env = { ...pgsealEnv(target, generateKey("lf").entry), PGSEAL_PREFIX: "pgseal" };
  const b = await pgseal(["backup", "--name", "shop", "--json"], { ...env, PGSEAL_DATABASE_URL: url });
  expect(b.code, b.stderr).toBe(0);
  const result = JSON.parse(b.stdout) as { manifestKey: string; manifest: { artifact: { key: string }; db: string } };
  expect(result.manifest.db).toBe("shop");
  artifactKey = result.manifest.artifact.key;
  // What a user does in a disaster: download both objects with any S3 tool.
  const client = new S3Client(target, nodeHashing);
  for (const key of [artifactKey, result.manifestKey]) {
    writeFileSync(join(dir, basename(key)), Buffer.from(await new Response((await client.get(key)).body).arrayBuffer()));
  }
});

afterAll(async () => {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const local = () => join(dir, basename(artifactKey));

describe("a downloaded artifact", () => {
  it("decrypts from the local file with its manifest beside it, to a file only the user can read (0600)", async () => {
    const out = join(dir, "shop.dump");
    const r = await pgseal(["decrypt", local(), "--output", out], { ...env, PGSEAL_S3_ENDPOINT: "http://127.0.0.1:9" });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).subarray(0, 5).toString()).toBe("PGDMP");
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  it("verifies and restores from the local file (the bucket is not asked)", async () => {
    const offline = { ...env, PGSEAL_S3_ENDPOINT: "http://127.0.0.1:9" };
    const v = await pgseal(["verify", local()], offline);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^ok: .*\.dump\.zst\.pgseal .*every encrypted segment/);
    const restoredUrl = await pg.createDatabase("shop_from_file");
    const r = await pgseal(["restore", local(), "--target", restoredUrl, "--json"], offline);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ artifactKey });
    expect(await pg.psql("select count(*) from orders", "shop_from_file")).toBe("5000");
  });

  it("without its manifest: verify checks what the key can prove and says exactly what it did not check; decrypt refuses", async () => {
    const alone = join(dir, "alone");
    rmSync(alone, { recursive: true, force: true });
    const { mkdirSync, copyFileSync } = await import("node:fs");
    mkdirSync(alone);
    const file = join(alone, basename(artifactKey));
    copyFileSync(local(), file);
    const v = await pgseal(["verify", file], env);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/every encrypted segment authenticated, decompressed.*NOT checked: size and sha256 against the manifest, and the dump's size, because there is no manifest/);
    const d = await pgseal(["decrypt", file, "--output", join(alone, "x.dump")], env);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/error ARTIFACT_NOT_FOUND: no manifest beside .*: expected .*\.manifest\.json/);
  });
});

/** Resolves just after the wall clock enters its next second. */
function nextSecond(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 50));
}

describe("progress and results", () => {
  it("--progress prints progress lines off a terminal, says '1 part' not '1 parts', and restore --json says what went where", async () => {
    // Backup keys are per second, and a second backup of a name in the same second is refused: start each in a new second.
    await nextSecond();
    const b = await pgseal(["backup", "--name", "shop", "--progress"], { ...env, PGSEAL_DATABASE_URL: pg.urlFor("shop") });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/^\w+ · dumped .* · uploaded .* in \d+ parts? · \d+s$/m);
    expect(b.stderr).toMatch(/stored [\d.]+ KiB in 1 part, /);
    expect(b.stderr).not.toMatch(/\b1 parts\b/);
    await nextSecond();
    const quiet = await pgseal(["backup", "--name", "shop"], { ...env, PGSEAL_DATABASE_URL: pg.urlFor("shop") });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toMatch(/ · uploaded /);

    const url = await pg.createDatabase("shop_progress");
    const r = await pgseal(["restore", b.stdout.trim(), "--target", url, "--progress", "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^restoring · read [\d.]+ KiB of [\d.]+ KiB/m);
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({ artifactKey: b.stdout.trim(), db: "shop", warnings: [] });
    expect(result.target).toMatch(/shop_progress/);
    expect(JSON.stringify(result)).not.toContain(pg.password);
  });
});

describe("first-day mistakes get a clear answer", () => {
  it("list without the prefix says where the backups are", async () => {
    const { PGSEAL_PREFIX: _, ...noPrefix } = env;
    const r = await pgseal(["list"], noPrefix);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("no backups under the bucket root (no prefix)");
    expect(r.stderr.trim()).toBe("found under: --prefix pgseal (shop)");
  });

  it("restore --name under the wrong prefix says where the backups are", async () => {
    const r = await pgseal(["restore", "--name", "shop", "--prefix", "demo", "--target", pg.urlFor("postgres")], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error ARTIFACT_NOT_FOUND: .*; backups found under: --prefix pgseal \(shop\)$/m);
  });

  it("a restore into a database that does not exist says so (PG_DATABASE_NOT_FOUND, not PG_DUMP_FAILED)", async () => {
    const r = await pgseal(["restore", artifactKey, "--target", pg.urlFor("no_such_db")], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error PG_DATABASE_NOT_FOUND: .*createdb/);
    expect(r.stderr).not.toContain(pg.password);
  });

  it("a name with a newline still gives a one-line error", async () => {
    const r = await pgseal(["restore", "--name", "shop\nrm -rf", "--target", pg.urlFor("postgres")], env);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^pgseal restore: error [A-Z_]+: .*shop\\nrm -rf/);
  });
});
