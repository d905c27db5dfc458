// Key custody end to end: a deployment holding only a public key backs up, drills (streamed) and seals; only the private key restores.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStreamer, type Streamer } from "../container/src/server.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { generateRecipient } from "../src/shared/format/recipient.ts";
import type { S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { fingerprint, tableCounts } from "./harness/compare.ts";
import { startLocalWorker, type ApiJob, type LocalWorker } from "./harness/local-worker.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";
import { isActiveJobState } from "../src/shared/contract/job-states.ts";

const SEED_SQL = new URL("./fixtures/seed.sql", import.meta.url).pathname;
let pg: PgCluster;
let target: S3Target;
let streamer: Streamer;
let worker: LocalWorker;
let pair: { publicEntry: string; privateEntry: string };
let privateKeyFile: string;
/** Holds the private key and a config with one: removed after the tests (test/harness/temp-dirs.ts checks). */
const dir = mkdtempSync(join(tmpdir(), "pgseal-custody-"));

beforeAll(async () => {
  pg = await startPostgres({ name: "custody" });
  await pg.createDatabase("seeded");
  await pg.psqlFile(SEED_SQL, "seeded");
  target = await freshBucket("custody");
  pair = await generateRecipient("ops-2026");
  privateKeyFile = join(dir, "private.key");
  writeFileSync(privateKeyFile, pair.privateEntry + "\n", { mode: 0o600 });
  streamer = await startStreamer({ port: 0, host: "127.0.0.1", log: () => {} });
  worker = await startLocalWorker({ s3: target, prefix: "kc", recipient: pair.publicEntry, streamerUrl: streamer.url, databases: { shop: { url: pg.urlFor("seeded") } } });
});

afterAll(async () => {
  await worker?.close();
  await streamer?.stop();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("key custody mode (PGSEAL_RECIPIENT, no keyring in the deployment)", () => {
  it("seals a backup the deployment cannot read, by a drill of the streamed dump, and only the private key restores it", async () => {
    const post = await worker.api<{ jobId: string }>("/backups/shop", { method: "POST" });
    expect(post.status).toBe(202);
    let job: ApiJob;
    const deadline = Date.now() + 90_000;
    for (;;) {
      job = (await worker.api<ApiJob>(`/backups/shop/${post.body.jobId}`)).body;
      if (!isActiveJobState(job.state) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(job.state, JSON.stringify(job.error)).toBe("sealed");
    expect(job.manifest?.encryption).toMatchObject({ format: "pgseal-v2", keyId: "ops-2026" });
    expect(Object.fromEntries(job.drillRecord!.comparison!.tables.map((t) => [t.table, t.actual]))).toEqual(await tableCounts(pg, "seeded"));

    // The deployment's kind of secret — a keyring — cannot open it.
    const env = pgsealEnv(target, generateKey("ops-2026").entry);
    await pg.createDatabase("nokey");
    const refused = await pgseal(["restore", job.artifactKey!, "--prefix", "kc", "--target", pg.urlFor("nokey")], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/error KEY_UNKNOWN_ID: the backup is sealed to recipient 'ops-2026' \(public-key mode\): only its private key opens it/);

    // The private key's holder restores it exactly.
    await pg.createDatabase("restored");
    const restore = await pgseal(["restore", job.artifactKey!, "--prefix", "kc", "--target", pg.urlFor("restored"), "--private-key-file", privateKeyFile], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await fingerprint(pg, "restored")).toEqual(await fingerprint(pg, "seeded"));
    const verify = await pgseal(["verify", job.artifactKey!, "--prefix", "kc"], { ...env, PGSEAL_KEYRING: "", PGSEAL_PRIVATE_KEY: pair.privateEntry });
    expect(verify.code, verify.stderr).toBe(0);
  });

  it("refuses a private key given as the deployment's recipient, and a keyring next to it", async () => {
    const r = await pgseal(["check-config", "--config", "wrangler.jsonc", "--json"], {});
    expect(r.code).toBe(0);
    const env = join(dir, "vars");
    writeFileSync(env, `PGSEAL_RECIPIENT='${pair.privateEntry}'\nPGSEAL_KEYRING='${generateKey("k").entry}'\n`);
    const bad = await pgseal(["check-config", "--env-file", env, "--json"], {});
    const paths = (JSON.parse(bad.stdout) as { problems: { path: string; message: string }[] }).problems;
    expect(paths.find((p) => p.path === "secrets.PGSEAL_RECIPIENT")?.message).toMatch(/this is a private key/);
    expect(paths.find((p) => p.path === "secrets.PGSEAL_KEYRING")?.message).toMatch(/either PGSEAL_KEYRING or PGSEAL_RECIPIENT/);
    expect(bad.stdout).not.toContain(pair.privateEntry.split(":")[2]);
  });
});
