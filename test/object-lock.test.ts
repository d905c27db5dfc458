// Object lock on upload: the retention headers are sent, signed and recorded in the manifest; what Swift does with them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../container/src/backup.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { lockHeaders } from "../src/shared/s3/s3.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { startRecordingProxy, type RecordingProxy } from "./harness/recording-proxy.ts";
import { freshBucket } from "./harness/use-s3.ts";

let pg: PgCluster;
let proxy: RecordingProxy;

beforeAll(async () => {
  pg = await startPostgres({ name: "lock" });
  await pg.createDatabase("small");
  await pg.psql("create table t(id int primary key, v text); insert into t select g, md5(g::text) from generate_series(1, 1000) g;", "small");
});

afterAll(async () => {
  await proxy?.stop();
  await pg?.stop();
});

describe("object lock", () => {
  it("formats the retain-until date in whole UTC seconds", () => {
    expect(lockHeaders({ mode: "COMPLIANCE", retainUntil: new Date("2026-12-01T10:00:00.250Z") })).toEqual({
      "x-amz-object-lock-mode": "COMPLIANCE",
      "x-amz-object-lock-retain-until-date": "2026-12-01T10:00:01Z",
    });
    expect(lockHeaders(undefined)).toEqual({});
  });

  it("sends mode and retain-until with the artifact's upload, signs both with Content-MD5, and records the lock in the manifest", async () => {
    const target = await freshBucket("lock");
    proxy = await startRecordingProxy(target.endpoint);
    const now = new Date("2026-11-22T03:00:00Z");
    const r = await runBackup(
      {
        db: "small",
        databaseUrl: pg.urlFor("small"),
        s3: { ...target, endpoint: proxy.url },
        prefix: "l",
        keyring: parseKeyring(generateKey("l").entry),
        compression: "zstd",
        objectLock: { mode: "GOVERNANCE", days: 30 },
      },
      { now: () => now },
    );
    const retainUntil = "2026-12-22T03:00:00Z";
    expect(r.manifest.artifact.lock).toEqual({ mode: "GOVERNANCE", retainUntil: "2026-12-22T03:00:00.000Z" });
    // The artifact's first write carries the lock: a PUT for a one-part artifact, else CreateMultipartUpload.
    const first = proxy.requests.find((q) => q.url.includes(r.manifest.artifact.key.split("/").pop()!) && (q.method === "PUT" || q.url.includes("uploads")))!;
    expect(first.headers["x-amz-object-lock-mode"]).toBe("GOVERNANCE");
    expect(first.headers["x-amz-object-lock-retain-until-date"]).toBe(retainUntil);
    const signed = /SignedHeaders=([^,]+)/.exec(String(first.headers.authorization))![1].split(";");
    expect(signed).toEqual(expect.arrayContaining(["x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date"]));
    if (first.method === "PUT") {
      expect(first.headers["content-md5"]).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      expect(signed).toContain("content-md5");
    }
    // The manifest is not locked: it is rewritten with the drill's verdict.
    const manifestPut = proxy.requests.find((q) => q.method === "PUT" && q.url.includes(".manifest.json"))!;
    expect(manifestPut.headers["x-amz-object-lock-mode"]).toBeUndefined();
  });
});
