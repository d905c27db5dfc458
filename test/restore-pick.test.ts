// `pgseal restore --name` takes the newest sealed (drill-proven) backup; an undrilled one only with --undrilled, and it says which and why.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../src/shared/format/keyring.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";

let pg: PgCluster;
let env: Record<string, string>;
let sourceUrl: string;

beforeAll(async () => {
  pg = await startPostgres({ name: "restore-pick" });
  sourceUrl = await pg.createDatabase("src");
  await pg.psql("CREATE TABLE t AS SELECT i FROM generate_series(1, 100) i;", "src");
  env = { ...pgsealEnv(await freshBucket("restore-pick"), generateKey("pick").entry), PGSEAL_PREFIX: "pick" };
});

afterAll(async () => {
  await pg?.stop();
});

async function backup(name: string, drill: boolean): Promise<string> {
  // Keys carry the second the backup started: two backups of one name need distinct seconds.
  await new Promise((r) => setTimeout(r, 1100));
  const r = await pgseal(["backup", "--name", name, ...(drill ? ["--drill"] : [])], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe("pgseal restore --name picks a proven backup", () => {
  it("takes the newest sealed backup over a newer undrilled one, and says so; --undrilled takes the newest one", async () => {
    const sealed = await backup("app", true);
    const undrilled = await backup("app", false);
    const r = await pgseal(["restore", "--name", "app", "--target", await pg.createDatabase("t1"), "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ artifactKey: sealed, status: "sealed" });
    expect(r.stderr).toContain(`restoring ${sealed}`);
    expect(r.stderr).toMatch(/newest sealed backup; 1 newer backup\(s\) not sealed \(uploaded\) skipped: --undrilled takes them/);

    const any = await pgseal(["restore", "--name", "app", "--undrilled", "--target", await pg.createDatabase("t2"), "--json"], env);
    expect(any.code, any.stderr).toBe(0);
    expect(JSON.parse(any.stdout)).toMatchObject({ artifactKey: undrilled, status: "uploaded" });
    expect(any.stderr).toMatch(/newest backup \(--undrilled\): uploaded, never proven by a drill/);
  });

  it("refuses when no backup of the name is sealed, naming how many were skipped and what to do", async () => {
    await backup("raw", false);
    const r = await pgseal(["restore", "--name", "raw", "--target", await pg.createDatabase("t3")], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ARTIFACT_NOT_FOUND: no sealed backup of 'raw' .*\(1 not sealed: uploaded\).*pgseal drill --name raw.*--undrilled/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
