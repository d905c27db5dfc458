// A verdict only comes from a drill that ran: operator mistakes (bad scratch server, wrong or missing key, tools older than the archive) end with their own codes, one line, and leave the manifest as it was.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { parseManifest, serializeManifest, type Manifest } from "../src/shared/catalog/manifest.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";

let pg: PgCluster;
let target: S3Target;
let bucket: S3Client;
let env: Record<string, string>;
let sourceUrl: string;
let sealedKey: string;

const manifestKeyOf = (artifactKey: string) => artifactKey.replace(/\.dump\..*$/, ".manifest.json");
async function manifestOf(artifactKey: string): Promise<Manifest> {
  const key = manifestKeyOf(artifactKey);
  return parseManifest(await new Response((await bucket.get(key)).body).text(), key);
}
const wrongPassword = () => pg.urlFor("postgres").replace(`:${encodeURIComponent(pg.password)}@`, ":not-the-password@");

/** One line on stderr with a stable code (`error CODE: …`, or with --json one JSON line), no stack trace. */
function expectOneLineError(r: { code: number; stderr: string }, code: string): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr
    .trim()
    .split("\n")
    .filter((l) => l.includes("error ") || l.startsWith("{") || /^\s+at /.test(l));
  expect(lines).toHaveLength(1);
  if (lines[0].startsWith("{")) expect(JSON.parse(lines[0]).error.code).toBe(code);
  else expect(lines[0]).toContain(`error ${code}: `);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

beforeAll(async () => {
  pg = await startPostgres({ name: "drill-not-run" });
  sourceUrl = await pg.createDatabase("src");
  await pg.psql("CREATE TABLE t AS SELECT i FROM generate_series(1, 100) i;", "src");
  target = await freshBucket("drill-not-run");
  bucket = new S3Client(target, nodeHashing);
  env = { ...pgsealEnv(target, generateKey("dnr").entry), PGSEAL_PREFIX: "dnr" };
  const b = await pgseal(["backup", "--name", "app", "--drill"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
  expect(b.code, b.stderr).toBe(0);
  sealedKey = b.stdout.trim();
  expect((await manifestOf(sealedKey)).status).toBe("sealed");
});

afterAll(async () => {
  await pg?.stop();
});

describe("a drill that could not run leaves the verdict alone", () => {
  it("scratch server refusing the password: DRILL_TARGET_AUTH_FAILED, manifest still sealed, drill --name still finds it", async () => {
    const r = await pgseal(["drill", sealedKey, "--scratch-url", wrongPassword()], env);
    expectOneLineError(r, "DRILL_TARGET_AUTH_FAILED");
    expect(r.stderr).not.toContain(pg.password);
    expect((await manifestOf(sealedKey)).status).toBe("sealed");
    const again = await pgseal(["drill", "--name", "app", "--json"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ artifactKey: sealedKey, status: "sealed" });
  });

  it("scratch server unreachable: DRILL_TARGET_UNREACHABLE, manifest still sealed, --json too is one line", async () => {
    const r = await pgseal(["drill", sealedKey, "--json", "--scratch-url", `postgres://u:p@127.0.0.1:1/postgres`], env);
    expectOneLineError(r, "DRILL_TARGET_UNREACHABLE");
    expect((await manifestOf(sealedKey)).status).toBe("sealed");
  });

  it("a wrong key or no key: its own code in one line, no stack trace, manifest still sealed", async () => {
    const wrong = await pgseal(["drill", sealedKey], { ...env, PGSEAL_KEYRING: generateKey("other").entry });
    expectOneLineError(wrong, "KEY_UNKNOWN_ID");
    const wrongJson = await pgseal(["drill", sealedKey, "--json"], { ...env, PGSEAL_KEYRING: generateKey("other").entry });
    expectOneLineError(wrongJson, "KEY_UNKNOWN_ID");
    const { PGSEAL_KEYRING: _k, ...noKey } = env;
    const missing = await pgseal(["drill", sealedKey], { ...noKey, PGSEAL_KEYRING: "" });
    expect(missing.code).toBe(2);
    expect(missing.stderr).not.toMatch(/^\s+at /m);
    expect((await manifestOf(sealedKey)).status).toBe("sealed");
  });

  it("restore tools older than the archive's pg_dump: DRILL_TOOLS_TOO_OLD, manifest unchanged", async () => {
    // A backup whose archive claims a pg_dump far newer than anything installed here.
    const b = await pgseal(["backup", "--name", "future", "--drill"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(b.code, b.stderr).toBe(0);
    const key = b.stdout.trim();
    const future = { ...(await manifestOf(key)) };
    future.dump = { ...future.dump, pgDumpVersion: "99.1" };
    await bucket.put(manifestKeyOf(key), serializeManifest(future), { contentType: "application/json" });
    const r = await pgseal(["drill", key], env);
    expectOneLineError(r, "DRILL_TOOLS_TOO_OLD");
    expect(r.stderr).toContain("99");
    expect(await manifestOf(key)).toEqual(future);
  });

  it("a new backup whose first drill could not run is drill-skipped with the reason, not drill-failed", async () => {
    const b = await pgseal(["backup", "--name", "fresh", "--drill", "--json", "--scratch-url", wrongPassword()], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    expect(b.code).toBe(1);
    const { manifest } = JSON.parse(b.stdout) as { manifest: Manifest };
    expect(manifest.status).toBe("drill-skipped");
    expect(manifest.drill).toMatchObject({ verdict: "skipped", code: "DRILL_TARGET_AUTH_FAILED" });
    expect((await manifestOf(manifest.artifact.key)).status).toBe("drill-skipped");
    expect(JSON.parse(b.stderr.trim().split("\n").at(-1)!).error.code).toBe("DRILL_TARGET_AUTH_FAILED");
  });
});
