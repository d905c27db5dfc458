// A PostgreSQL restart mid-dump (the server closes pg_dump's connection) is a retryable failure with its own code, not a permanent PG_DUMP_FAILED.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../container/src/backup.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { isPgsealError } from "../src/shared/errors.ts";
import type { S3Target } from "../src/shared/s3/s3.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { startSlowProxy, type SlowProxy } from "./harness/slow-proxy.ts";
import { freshBucket } from "./harness/use-s3.ts";

const PART_SIZE = 5 * 1024 * 1024;
const UPLOAD_BYTES_PER_SECOND = 2 * 1024 * 1024;

let pg: PgCluster;
let target: S3Target;
let slow: SlowProxy;
let url: string;

beforeAll(async () => {
  pg = await startPostgres({ name: "conn-lost" });
  url = await pg.createDatabase("bulk");
  // ~61 MB dumped, ~30 MB after zstd: far more than the backup can buffer ahead of a slow store (below).
  await pg.psql("CREATE TABLE bulk AS SELECT i AS id, md5(i::text) || md5((-i)::text) AS v FROM generate_series(1, 800000) AS i;", "bulk");
  target = await freshBucket("conn-lost");
  // A slow store holds the pipeline back, so pg_dump is still reading when its connection is cut.
  slow = await startSlowProxy(target.endpoint, { bytesPerSecond: UPLOAD_BYTES_PER_SECOND });
});

afterAll(async () => {
  await slow?.stop();
  await pg?.stop();
});

describe("a dump whose server connection is cut", () => {
  it("fails PG_CONNECTION_LOST, retryable, when the server terminates pg_dump's session (as a restart does)", async () => {
    let cut = false;
    const run = runBackup(
      // One part in flight: the backup holds at most two parts (10 MiB) ahead of the store, so pg_dump
      // blocks on backpressure seconds before its end. With the default four (25 MiB) the whole dump fit
      // in the buffers, and on a fast machine pg_dump could finish before the cut landed.
      { db: "bulk", databaseUrl: url, s3: { ...target, endpoint: slow.url }, prefix: "cl", keyring: parseKeyring(generateKey("cl").entry), compression: "zstd", partSize: PART_SIZE, concurrency: 1 },
      {
        onProgress: (p) => {
          if (cut || p.bytesDumped === 0) return;
          cut = true;
          void pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgseal' AND pid <> pg_backend_pid()");
        },
      },
    );
    const e = await run.then(
      () => null,
      (err: unknown) => err,
    );
    expect(cut).toBe(true);
    expect(isPgsealError(e), String(e)).toBe(true);
    expect(e).toMatchObject({ code: "PG_CONNECTION_LOST", retryable: true });
  });
});
