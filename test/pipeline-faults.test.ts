// Faults injected into every position of the real chains (backup, verify/decrypt, restore): the chain fails with that fault, commits nothing, leaves nothing open.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../container/src/backup.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { findPgTools } from "../container/src/pg-tools.ts";
import { countUserObjects } from "../container/src/preflight.ts";
import { checkStoredArtifact, openDump } from "../container/src/restore.ts";
import { pgRestoreSink } from "../container/src/stages/pg-restore.ts";
import { PgsealError } from "../src/shared/errors.ts";
import { generateKey, parseKeyring, type Keyring } from "../src/shared/format/keyring.ts";
import type { Manifest } from "../src/shared/catalog/manifest.ts";
import { parsePgUrl } from "../src/shared/pg-url.ts";
import { runPipeline, stage, type PipelineStage } from "../src/shared/pipeline/pipeline.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";

type Where = "start" | "byte" | "flush";

let pg: PgCluster;
let target: S3Target;
let client: S3Client;
let keyring: Keyring;
let sourceUrl: string;
let stored: Manifest;

/** A stage that fails with `error` at its start, once `at` bytes went through, or at its end. */
function fault(where: Where, at: number, error: PgsealError): PipelineStage {
  let seen = 0;
  return stage(
    `fault@${where}`,
    new TransformStream<Uint8Array, Uint8Array>({
      start: () => (where === "start" ? Promise.reject(error) : undefined),
      transform(chunk, c) {
        seen += chunk.length;
        if (where === "byte" && seen >= at) throw error;
        c.enqueue(chunk);
      },
      flush() {
        if (where === "flush") throw error;
      },
    }),
  );
}

/** Re-cuts the stream into chunks of the given sizes (cycling), so every chain is tried at odd boundaries. */
function rechunk(sizes: number[]): PipelineStage {
  let i = 0;
  let pending = new Uint8Array(0);
  const next = () => sizes[i++ % sizes.length];
  return stage(
    "rechunk",
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        const all = new Uint8Array(pending.length + chunk.length);
        all.set(pending);
        all.set(chunk, pending.length);
        let o = 0;
        for (let n = next(); o + n <= all.length; n = next()) c.enqueue(all.slice(o, o + n)), (o += n);
        pending = all.slice(o);
      },
      flush(c) {
        if (pending.length) c.enqueue(pending);
      },
    }),
  );
}

function insertAt(stages: PipelineStage[], k: number, extra: PipelineStage): PipelineStage[] {
  const at = k % (stages.length + 1);
  return [...stages.slice(0, at), extra, ...stages.slice(at)];
}

async function keysUnder(prefix: string): Promise<{ objects: string[]; uploads: string[] }> {
  const objects: string[] = [];
  for await (const o of client.list(prefix)) objects.push(o.key);
  const uploads: string[] = [];
  for await (const u of client.listMultipartUploads(prefix)) uploads.push(u.uploadId);
  return { objects, uploads };
}

const injected = (label: string) => new PgsealError("INTERNAL", `injected fault ${label}`);

beforeAll(async () => {
  pg = await startPostgres();
  sourceUrl = await pg.createDatabase("faults");
  // ~14 MB of hex text: compressed it still spans more than one 5 MiB part.
  await pg.psql("create table t as select g, md5(g::text) || md5((g * 7)::text) as h from generate_series(1, 200000) g", "faults");
  target = await freshBucket("faults");
  client = new S3Client(target, nodeHashing);
  keyring = parseKeyring(generateKey("faults").entry);
  stored = (await runBackup({ db: "faults", databaseUrl: sourceUrl, s3: target, prefix: "stored", compression: "zstd", keyring, segmentSize: 65536 })).manifest;
});

afterAll(async () => {
  await pg?.stop();
});

describe("the read chain (verify, decrypt)", () => {
  it("fails with the injected fault wherever it sits, or with the consumer's error when the consumer stops early (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 20 }),
        fc.constantFrom<Where>("start", "byte", "flush"),
        fc.integer({ min: 1, max: 4_000_000 }),
        fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 4 }),
        fc.option(fc.integer({ min: 0, max: 3_000_000 }), { freq: 3 }),
        async (k, where, at, sizes, stopAfter) => {
          const chain = await openDump(client, stored, keyring);
          let committed = false;
          let written = 0;
          const early = new PgsealError("OUTPUT_CLOSED", "the reader went away");
          const sink = new WritableStream<Uint8Array>({
            write(c) {
              written += c.length;
              if (stopAfter !== null && written > stopAfter) throw early;
            },
            close: () => void (committed = true),
          });
          const error = injected(`${where}@${at}`);
          const stages = [rechunk(sizes), ...(stopAfter === null ? insertAt(chain.stages, k, fault(where, at, error)) : chain.stages)];
          const run = runPipeline({ source: chain.source, stages, sink: { name: "consumer", writable: sink } });
          if (stopAfter === null) {
            // A fault after the last byte (`byte` beyond the stream's length) never fires: then the chain must succeed.
            const fires = where !== "byte" || at <= streamLengthAt(k, chain.stages.length);
            if (fires) await expect(run).rejects.toBe(error);
            else await run;
            expect(committed).toBe(!fires);
          } else {
            await expect(run).rejects.toBe(early);
            expect(committed).toBe(false);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("verifies a stored artifact without the key end to end (the runner's success path)", async () => {
    await checkStoredArtifact(client, stored);
  });
});

/** Bytes that pass position k of the read chain: the encrypted object before decryption, the dump after it. */
function streamLengthAt(k: number, stageCount: number): number {
  const at = k % (stageCount + 1);
  // stages: progress, verify, decrypt, decompress, dump-check
  if (at <= 2) return stored.artifact.bytes;
  if (at === 3) return stored.compression.bytes;
  return stored.dump.bytes;
}

describe("the restore chain", () => {
  it("leaves the target empty whichever stage fails (property)", async () => {
    const tools = await findPgTools();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 20 }), fc.constantFrom<Where>("start", "byte", "flush"), fc.integer({ min: 1, max: 2_000_000 }), async (k, where, at) => {
        const url = await pg.createDatabase(`restore_fault_${n++}`);
        const chain = await openDump(client, stored, keyring);
        const sink = pgRestoreSink(tools, parsePgUrl(url));
        const error = injected(`${where}@${at}`);
        const run = runPipeline({ ...chain, stages: insertAt(chain.stages, k, fault(where, at, error)), sink: { name: "pg_restore", writable: sink.writable, done: sink.done, stop: sink.stop } });
        await expect(run).rejects.toBe(error);
        expect(await countUserObjects(tools, parsePgUrl(url))).toBe(0);
      }),
      { numRuns: 6 },
    );
  });
});

describe("the backup chain", () => {
  it("stores no artifact, no manifest and no open upload whichever stage fails (property)", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 20 }), fc.constantFrom<Where>("start", "byte", "flush"), fc.integer({ min: 1, max: 6_000_000 }), async (k, where, at) => {
        const prefix = `backup-fault-${n++}`;
        const error = injected(`${where}@${at}`);
        const run = runBackup(
          { db: "faults", databaseUrl: sourceUrl, s3: target, prefix, compression: "zstd", keyring, partSize: 5 * 1_048_576 },
          { stages: (stages) => insertAt(stages, k, fault(where, at, error)) },
        );
        await expect(run).rejects.toBe(error);
        expect(await keysUnder(`${prefix}/`)).toEqual({ objects: [], uploads: [] });
      }),
      { numRuns: 6 },
    );
  });

  it("refuses a compression level the algorithm does not have before pg_dump starts, storing nothing", async () => {
    let dumped = false;
    const run = runBackup(
      { db: "faults", databaseUrl: sourceUrl, s3: target, prefix: "bad-level", compression: "gzip", level: 12, keyring },
      { onProgress: (p) => (dumped ||= p.phase === "dumping") },
    );
    await expect(run).rejects.toMatchObject({ code: "USAGE", message: "compression level 12 must be an integer 1-9 for gzip" });
    expect(dumped).toBe(false);
    expect(await keysUnder("bad-level/")).toEqual({ objects: [], uploads: [] });
  });
});
