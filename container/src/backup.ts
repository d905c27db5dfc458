// Wires the backup pipeline: pg_dump → compress → encrypt → multipart upload → manifest (last).
// Each stage knows nothing of its neighbours; this file is the only place that connects them.
import type { StreamerPhase, StreamerProgress } from "../../src/shared/contract/streamer-job.ts";
import { backupKeys, type Compression } from "../../src/shared/catalog/artifact-keys.ts";
import { toHex } from "../../src/shared/bytes.ts";
import { PgsealError, asPgsealError } from "../../src/shared/errors.ts";
import { fanOut, type CopyOutcome } from "../../src/shared/pipeline/fanout.ts";
export type { CopyOutcome };
import { createEncryptStream, DEFAULT_SEGMENT_BYTES, sealedRecordBytes } from "../../src/shared/format/format.ts";
import type { Keyring } from "../../src/shared/format/keyring.ts";
import type { RecipientPublicKey } from "../../src/shared/format/recipient.ts";
import type { Manifest } from "../../src/shared/catalog/manifest.ts";
import { sealJson } from "../../src/shared/format/sealed-json.ts";
import { choosePartSize, createUploadSink } from "../../src/shared/s3/multipart.ts";
import { parsePgUrl } from "../../src/shared/pg-url.ts";
import type { S3Target } from "../../src/shared/s3/s3.ts";
import { collectCopies, probeTargets, writeManifests } from "./backup-targets.ts";
import { runPipeline, stage, type PipelineStage } from "../../src/shared/pipeline/pipeline.ts";
import { copyTo, tap } from "../../src/shared/pipeline/tap.ts";
import { headerDigestTap } from "../../src/shared/pipeline/verify-stage.ts";
import { nodeHashing } from "./node-hash.ts";
import { findPgTools } from "./pg-tools.ts";
import { inspectSource } from "./preflight.ts";
import { compressStage, DEFAULT_LEVEL, levelProblem } from "./stages/compress.ts";
import { dumpInventory, type DumpInventory } from "./stages/dump-inventory.ts";
import { pgDumpSource } from "./stages/pg-dump.ts";
import { SOURCE_CHUNK_BYTES } from "./stages/coalesce.ts";
import { ChunkPool } from "../../src/shared/pipeline/chunk-pool.ts";
import { PGSEAL_VERSION } from "./version.ts";

export const PROGRESS_INTERVAL_MS = 250;
export const DEFAULT_UPLOAD_CONCURRENCY = 4;

/** Sealed records a sink can hold at once (parts uploading plus the one filling, a record straddling each boundary): the record pool keeps that many. */
function recordsInFlight(partSize: number, concurrency: number, segmentSize: number): number {
  return Math.ceil(((concurrency + 1) * partSize) / sealedRecordBytes(segmentSize)) + concurrency + 2;
}

export interface BackupSpec {
  /** Logical database name used in object keys. */
  db: string;
  databaseUrl: string;
  s3: S3Target;
  prefix: string;
  /** The keyring encrypts (format v1)… */
  keyring?: Keyring;
  /** …or, in key custody mode, a recipient's public key does (format v2): the deployment cannot read the result. */
  recipient?: RecipientPublicKey;
  compression: Compression;
  level?: number;
  partSize?: number;
  concurrency?: number;
  segmentSize?: number;
  /** Object lock for the artifact: it cannot be deleted or overwritten for `days` after the backup starts. */
  objectLock?: { mode: "GOVERNANCE" | "COMPLIANCE"; days: number };
  /** The name `s3` goes by in results (a destination name); "primary" if unset. */
  name?: string;
  /** Further destinations written in the same pass: one dump, one compression and encryption, every bucket. */
  copies?: { name: string; s3: S3Target }[];
  /** pg_dump's wait for each table lock before PG_LOCK_TIMEOUT (default DEFAULT_LOCK_WAIT_TIMEOUT_MS). */
  lockWaitTimeoutMs?: number;
}

export type BackupPhase = StreamerPhase;
/** What the engine reports as it goes: the wire's progress (src/shared/contract/streamer-job.ts) plus the phase. */
export type BackupProgress = StreamerProgress & { phase: BackupPhase };

export interface BackupHooks {
  /**
   * Called once the source's size is known; a writable it returns gets a copy of the dump as it
   * streams (the public-key mode's drill restores from it). Its failure never fails the backup.
   */
  openPlainTee?: (sourceBytes: number) => Promise<WritableStream<Uint8Array> | null>;
  onProgress?: (p: BackupProgress) => void;
  onNotice?: (message: string) => void;
  signal?: AbortSignal;
  now?: () => Date;
  /** Tests only: see (and wrap, for fault injection) the stages between pg_dump and the upload. */
  stages?: (stages: PipelineStage[]) => PipelineStage[];
  /** Tests only: fill each pooled buffer handed back (source chunks, sealed records) with 0xA5, so that a stage or a sink that still read it would read garbage. */
  poisonReleasedChunks?: boolean;
  /** Tests only: the pool of pg_dump's source buffers (none with a streaming drill or test stages), and the pool of sealed records. */
  onChunkPool?: (pool: ChunkPool) => void;
  onRecordPool?: (pool: ChunkPool) => void;
}

export interface BackupResult {
  manifest: Manifest;
  manifestKey: string;
  /** What the dump held (tables and rows, sequences, objects), read as it streamed; null if it could not be parsed. */
  inventory: DumpInventory | null;
  /** Every destination, the first healthy one first: `manifest` and `manifestKey` are that copy's. */
  copies: CopyOutcome[];
  /** The S3 target of the first healthy copy (where the drill reads from). */
  primary: S3Target;
}

export async function runBackup(spec: BackupSpec, hooks: BackupHooks = {}): Promise<BackupResult> {
  const started = performance.now();
  const progress: BackupProgress = { phase: "preflight", bytesDumped: 0, bytesCompressed: 0, bytesEncrypted: 0, bytesUploaded: 0, partsUploaded: 0, elapsedMs: 0 };
  let lastReport = 0;
  const report = (force = false) => {
    const now = performance.now();
    if (!force && now - lastReport < PROGRESS_INTERVAL_MS) return;
    lastReport = now;
    progress.elapsedMs = Math.round(now - started);
    hooks.onProgress?.({ ...progress });
  };
  const signal = hooks.signal;
  const cancelled = () => new PgsealError("CANCELLED", `backup of ${spec.db} was cancelled`);
  if (signal?.aborted) throw cancelled();
  // Before anything starts: zlib would only refuse it once pg_dump is running, as a pipeline failure.
  const levelIsBad = spec.level === undefined ? undefined : levelProblem(spec.compression, spec.level);
  if (levelIsBad) throw new PgsealError("USAGE", `compression level ${spec.level} ${levelIsBad}`);

  const conn = parsePgUrl(spec.databaseUrl);
  for (const n of conn.notices) hooks.onNotice?.(n);
  report(true);
  const createdAt = (hooks.now ?? (() => new Date()))();
  const keys = backupKeys(spec.prefix, spec.db, createdAt, spec.compression);
  // The source and the destinations are checked at the same time: each costs process starts or
  // round trips (~0.1-0.3 s together), and neither needs the other. A source problem is reported first.
  const [checked, probed] = await Promise.allSettled([
    findPgTools().then(async (tools) => ({ tools, source: await inspectSource(tools, conn) })),
    probeTargets([{ name: spec.name ?? "primary", s3: spec.s3 }, ...(spec.copies ?? [])], keys, signal, cancelled),
  ]);
  if (checked.status === "rejected") throw checked.reason;
  if (probed.status === "rejected") throw probed.reason;
  const { tools, source } = checked.value;
  const { targets, unreachable } = probed.value;
  progress.sourceBytes = source.sizeBytes;

  const level = spec.level ?? DEFAULT_LEVEL[spec.compression];
  const partSize = spec.partSize ?? choosePartSize(source.sizeBytes);
  const sha256 = nodeHashing.sha256();
  const header = headerDigestTap(nodeHashing);
  const sealTo: Keyring | RecipientPublicKey | undefined = spec.recipient ?? spec.keyring;
  if (!sealTo) throw new PgsealError("CONFIG_INVALID", "no key to encrypt with: give a keyring, or a recipient public key (key custody mode)");
  // Opened before pg_dump starts: opening may take seconds (initdb) or fail, and must not leave a
  // spawned pg_dump waiting on a pipe nobody reads.
  const plainTee = (await hooks.openPlainTee?.(source.sizeBytes)) ?? null;
  const sideStage = plainTee ? copyTo(plainTee, (e) => hooks.onNotice?.(`the streaming drill stopped taking the dump: ${e instanceof Error ? e.message : String(e)}`)) : null;
  const lock = spec.objectLock ? { mode: spec.objectLock.mode, retainUntil: new Date(createdAt.getTime() + spec.objectLock.days * 86_400_000) } : undefined;
  // Progress shows the slowest live copy: that is the one the pipeline waits for.
  const uploadedBy = targets.map(() => ({ bytes: 0, parts: 0, live: true }));
  // Sealed records come back to the encrypt stage once every destination uploaded them: dead
  // ciphertext waiting for a collection was what made peak RSS vary (docs/PERFORMANCE.md).
  const segmentSize = spec.segmentSize ?? DEFAULT_SEGMENT_BYTES;
  const concurrency = spec.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
  const records = new ChunkPool({
    chunkBytes: sealedRecordBytes(segmentSize),
    holders: targets.length,
    keep: recordsInFlight(partSize, concurrency, segmentSize),
    poison: hooks.poisonReleasedChunks,
  });
  hooks.onRecordPool?.(records);
  const sinks = targets.map((t, i) =>
    createUploadSink(t.client, keys.artifact, {
      released: records.release,
      objectLock: lock,
      partSize,
      concurrency,
      signal,
      onOpenUpload: (u) => {
        progress.openUploads = [...(progress.openUploads ?? []), { destination: t.name, key: u.key, uploadId: u.uploadId }];
        hooks.onNotice?.(`could not abort the multipart upload of ${u.key} in ${t.name} (${u.reason}): it stays open until the next run of this database or 'pgseal prune' aborts it`);
        report();
      },
      onProgress: (p) => {
        uploadedBy[i] = { bytes: p.bytesUploaded, parts: p.partsDone, live: true };
        const live = uploadedBy.filter((u) => u.live);
        progress.bytesUploaded = Math.min(...live.map((u) => u.bytes));
        progress.partsUploaded = Math.min(...live.map((u) => u.parts));
        report();
      },
    }),
  );
  const fan = fanOut(sinks.map((s, i) => ({ name: targets[i].name, writable: s.writable })));
  void fan.outcomes.then((os) => {
    for (const [i, o] of os.entries()) uploadedBy[i].live = o.ok;
  });
  const inventory = dumpInventory();
  inventory.result.catch(() => {}); // judged after the upload; a failed pipeline must not leave it unhandled
  // The source's buffers go back to it once each stage reading the raw dump is done with them
  // (ChunkPool): fresh 512 KiB buffers made V8 collect garbage every ~15 MB. Not with a streaming
  // drill (its pg_restore pipe holds a chunk after the write) nor with stages a test put in.
  const pooled = !sideStage && !hooks.stages;
  let dumpSeconds = 0;
  const rawStages: PipelineStage[] = [];
  const raw = (name: string, t: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }) => {
    const s = stage(name, t);
    if (pooled) rawStages.push(s);
    return s;
  };
  const stages = (hooks.stages ?? ((x) => x))([
    raw(
      "progress",
      tap((c) => ((progress.bytesDumped += c.length), report())),
    ),
    raw("inventory", inventory.stage),
    ...(sideStage ? [stage("streaming-drill", sideStage.stage)] : []),
    raw(
      "dump-end",
      new TransformStream({
        flush() {
          // pg_dump exited 0 (the source closes only then): what remains is flushing the upload.
          dumpSeconds = (performance.now() - started) / 1000;
          progress.phase = "uploading";
          progress.table = undefined;
          report(true);
        },
      }),
    ),
    raw("compress", compressStage(spec.compression, level)),
    stage(
      "compressed-bytes",
      tap((c) => (progress.bytesCompressed += c.length)),
    ),
    stage("encrypt", createEncryptStream(sealTo, { segmentSize, records })),
    stage("header-digest", header.stage),
    stage(
      "artifact-sha256",
      tap((c) => (sha256.update(c), (progress.bytesEncrypted += c.length))),
    ),
  ]);
  const pool = pooled ? new ChunkPool({ chunkBytes: SOURCE_CHUNK_BYTES, holders: rawStages.length, poison: hooks.poisonReleasedChunks }) : undefined;
  for (const s of rawStages) s.written = pool!.release;
  if (pool) hooks.onChunkPool?.(pool);
  const dump = pgDumpSource({
    tools,
    conn,
    pool,
    ...(spec.lockWaitTimeoutMs ? { lockWaitTimeoutMs: spec.lockWaitTimeoutMs } : {}),
    onTable: (table) => {
      progress.table = table;
      report();
    },
  });
  // pg_dump runs from here on: the phase says so at once (a cancel from now on stops a dump, not a preflight).
  progress.phase = "dumping";
  report(true);
  const onAbort = () => dump.kill(cancelled());
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await runPipeline({
      source: { name: "pg_dump", readable: dump.readable, stop: (e) => dump.kill(asPgsealError(e, "PG_DUMP_FAILED", "stopped because the pipeline failed")) },
      stages,
      sink: { name: "upload", writable: fan.writable },
      signal,
      cancelReason: cancelled,
    });
  } catch (e) {
    const error = signal?.aborted ? cancelled() : asPgsealError(e, "PG_DUMP_FAILED", "backup pipeline failed");
    dump.kill(error);
    sideStage?.abort(error);
    // Each sink aborts its multipart upload on its own; wait for that so nothing is left behind when we
    // return (their errors are the copies' own, already part of `error` through the pipeline).
    await Promise.all(sinks.map((s) => s.result.catch(() => undefined)));
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  const { copies, uploaded } = await collectCopies(
    targets,
    sinks.map((x) => x.result),
    await fan.outcomes,
    progress.bytesEncrypted,
    keys.manifest,
  );

  const manifest: Manifest = {
    format: "pgseal-manifest",
    version: 1,
    db: spec.db,
    createdAt: createdAt.toISOString(),
    status: "uploaded",
    tool: { name: "pgseal", version: PGSEAL_VERSION },
    source: { host: conn.host, database: conn.database, serverVersion: source.serverVersion, serverMajor: source.serverMajor, sizeBytes: source.sizeBytes },
    dump: { format: "custom", pgDumpVersion: tools.version, bytes: progress.bytesDumped },
    compression: { algorithm: spec.compression, level, bytes: progress.bytesCompressed },
    encryption: {
      format: spec.recipient ? "pgseal-v2" : "pgseal-v1",
      keyId: spec.recipient ? spec.recipient.id : spec.keyring!.active.id,
      segmentSize,
      bytes: progress.bytesEncrypted,
    },
    artifact: {
      key: keys.artifact,
      bytes: uploaded.bytes,
      sha256: toHex(await sha256.digest()),
      headerSha256: await header.headerSha256(),
      partSize: uploaded.partSize,
      parts: uploaded.parts,
      ...(lock ? { lock: { mode: lock.mode, retainUntil: lock.retainUntil.toISOString() } } : {}),
    },
    timings: { dumpSeconds: round3(dumpSeconds), totalSeconds: 0 },
  };
  // The inventory only feeds the drill: a dump it cannot parse is still a good backup, just not drillable.
  const counted = await inventory.result.catch((e: unknown) => {
    hooks.onNotice?.(`the dump's table inventory is unavailable, so this backup cannot be drilled: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  });
  // pg_dump's session had the same TimeZone and bytea_output as the preflight's (same URL, same environment).
  if (counted) counted.session = source.session;
  if (counted) manifest.sealed = { inventory: await sealJson(sealTo, counted) };
  manifest.timings.totalSeconds = round3((performance.now() - started) / 1000);
  const written = await writeManifests(targets, copies, unreachable, manifest, keys.manifest);
  progress.phase = "done";
  report(true);
  return { manifest, manifestKey: keys.manifest, inventory: counted, copies: written.copies, primary: written.primary };
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
