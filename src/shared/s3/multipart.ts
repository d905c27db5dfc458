// Pipeline sink: bytes → fixed-size parts → S3 multipart upload, bounded parts in flight, aborted on any failure.
import { PgsealError } from "../errors.ts";
import type { ObjectLock, S3Client } from "./s3.ts";

const MiB = 1024 * 1024;
/** S3's minimum for every part but the last. */
export const MIN_PART_BYTES = 5 * MiB;
export const DEFAULT_PART_BYTES = 8 * MiB;
export const MAX_PART_BYTES = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
/** Plan for 9,000 parts at twice the expected size: the database may grow while it is dumped. */
export const PLANNED_PARTS = 9_000;
export const GROWTH_FACTOR = 2;
export const DEFAULT_CONCURRENCY = 4;

/**
 * One part size for the whole upload (R2 rejects unequal non-trailing parts), so it must be
 * chosen before the first byte: partSize = max(8 MiB, ceil(expected × 2 / 9,000) rounded up to
 * a whole MiB), capped at 5 GiB. The ×2 absorbs growth during the dump and a poor size estimate
 * (pg_database_size vs. the compressed dump); the 1,000 parts between 9,000 and S3's 10,000 are
 * a further margin. 8 MiB covers up to 9,000 × 8 MiB / 2 ≈ 35 GiB; 100 GB → 22 MiB; 1 TB → 212 MiB.
 */
export function choosePartSize(expectedBytes?: number): number {
  if (!expectedBytes || !Number.isFinite(expectedBytes) || expectedBytes <= 0) return DEFAULT_PART_BYTES;
  const needed = Math.ceil((expectedBytes * GROWTH_FACTOR) / PLANNED_PARTS / MiB) * MiB;
  return Math.min(MAX_PART_BYTES, Math.max(DEFAULT_PART_BYTES, needed));
}

export interface UploadProgress {
  bytesUploaded: number;
  partsDone: number;
}

export interface UploadResult {
  bytes: number;
  parts: number;
  etag: string;
  partSize: number;
}

export interface UploadSinkOptions {
  partSize: number;
  concurrency?: number;
  contentType?: string;
  /** Sent with the upload's first request (CreateMultipartUpload, or the PUT of a small artifact). */
  objectLock?: ObjectLock;
  onProgress?: (p: UploadProgress) => void;
  signal?: AbortSignal;
  /** For stores with a lower limit than S3's 10,000 (never higher). */
  maxParts?: number;
  /**
   * Called with each written chunk once the sink will never read it again: every part holding
   * bytes of it is uploaded (a ChunkPool's release). A chunk with bytes in a part that was never
   * uploaded (a failure) is not handed back: it is left to the garbage collector.
   */
  released?: (chunk: Uint8Array) => void;
  /** Told when the abort after a failure itself failed: the upload stays open in the bucket and is the caller's to record. */
  onOpenUpload?: (u: { key: string; uploadId: string; reason: string }) => void;
}

function cancelled(key: string, signal: AbortSignal): PgsealError {
  return signal.reason instanceof PgsealError ? signal.reason : new PgsealError("CANCELLED", `upload of ${key} cancelled`);
}

/**
 * A part is the list of chunks written to the sink (split at part boundaries), not a copy: the
 * sink keeps every chunk it is given until that chunk's part is uploaded, so a writer must not
 * change a chunk after writing it until the sink hands it back through `released` (the backup's
 * encrypt stage fills a record's buffer again only then). Memory is bounded by
 * partSize × (concurrency + 1): `concurrency` parts uploading plus one filling (or full and
 * waiting for a slot). With the client's `streamBodies` nothing else is held; without it, fetch
 * copies each part in flight once.
 *
 * An object smaller than one part is a single PUT: same integrity (Content-MD5), two requests
 * fewer, and nothing left to abort if it fails. Empty input is an empty PUT.
 *
 * On any failure (a part after its retries, the writable aborted upstream, the signal) no new
 * part starts, the parts in flight finish (so none can land after the abort), the upload is
 * aborted (retried, not cancelled by the signal), and `result` rejects with the cause. Complete
 * is never sent after a failure.
 */
export function createUploadSink(client: S3Client, key: string, opts: UploadSinkOptions): { writable: WritableStream<Uint8Array>; result: Promise<UploadResult> } {
  const { partSize, signal } = opts;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const maxParts = Math.min(opts.maxParts ?? MAX_PARTS, MAX_PARTS);
  if (!Number.isInteger(partSize) || partSize < MIN_PART_BYTES || partSize > MAX_PART_BYTES) {
    throw new PgsealError("S3_PART_SIZE", `part size ${partSize} is outside ${MIN_PART_BYTES}..${MAX_PART_BYTES} bytes`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new PgsealError("USAGE", `upload concurrency must be a positive integer, not ${concurrency}`);

  /** The part being filled: views of the written chunks, in order. */
  let pieces: Uint8Array[] = [];
  /** With `released`: the written chunks the part being filled has bytes of, and for each chunk the parts not yet uploaded. */
  const released = opts.released;
  let owners: Uint8Array[] = [];
  const partsLeft = new Map<Uint8Array, number>();
  const releaseAll = (chunks: Uint8Array[]) => {
    for (const c of chunks) {
      const left = partsLeft.get(c)! - 1;
      if (left > 0) partsLeft.set(c, left);
      else partsLeft.delete(c), released!(c);
    }
  };
  let filled = 0;
  let nextPart = 1;
  let total = 0;
  let uploaded = 0;
  let uploadId: Promise<string> | undefined;
  let failure: unknown;
  let failing: Promise<void> | undefined;
  /** Once Complete is sent the object is committed or not: a late cancel must not race it with an abort. */
  let completing = false;
  let controller!: WritableStreamDefaultController;
  const inflight = new Set<Promise<void>>();
  const parts: { partNumber: number; etag: string }[] = [];
  let settle!: { resolve: (r: UploadResult) => void; reject: (e: unknown) => void };
  const result = new Promise<UploadResult>((resolve, reject) => (settle = { resolve, reject }));
  result.catch(() => {}); // callers that only await the writable must not see an unhandled rejection

  const onAbort = () => {
    if (!completing) void fail(cancelled(key, signal!));
  };

  const fail = (reason: unknown): Promise<void> =>
    (failing ??= (async () => {
      failure = reason;
      signal?.removeEventListener("abort", onAbort);
      // Upstream learns now, not at its next write (pipeTo then cancels the source).
      controller.error(reason);
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
      const id = await uploadId?.catch(() => undefined);
      if (id) {
        await client.abortMultipart(key, id).catch((e: unknown) => {
          opts.onOpenUpload?.({ key, uploadId: id, reason: e instanceof Error ? e.message : String(e) });
        });
      }
      settle.reject(reason);
    })());

  const mustContinue = () => {
    if (failure) throw failure;
    if (signal?.aborted) throw cancelled(key, signal);
  };

  const dispatch = async (part: Uint8Array[], chunks: Uint8Array[], bytes: number, last: boolean) => {
    if (!last && bytes !== partSize) {
      throw new PgsealError("S3_PART_SIZE", `part ${nextPart} of ${key} is ${bytes} bytes; every part but the last must be ${partSize}`);
    }
    if (nextPart > maxParts) {
      throw new PgsealError(
        "S3_PART_SIZE",
        `the upload of ${key} needs more than ${maxParts} parts of ${partSize} bytes (${partSize / MiB} MiB): the data outgrew its size estimate; use a larger part size`,
      );
    }
    while (inflight.size >= concurrency && !failure) await Promise.race(inflight);
    mustContinue();
    uploadId ??= client.createMultipart(key, { contentType: opts.contentType, objectLock: opts.objectLock });
    const id = await uploadId;
    // Checked again with no await before the part is tracked: fail() waits for every tracked part.
    mustContinue();
    const partNumber = nextPart++;
    const tracked: Promise<void> = client
      .uploadPart(key, id, partNumber, part)
      .then(
        (etag) => {
          parts.push({ partNumber, etag });
          if (released) releaseAll(chunks);
          uploaded += bytes;
          opts.onProgress?.({ bytesUploaded: uploaded, partsDone: parts.length });
        },
        (e) => void fail(e),
      )
      .finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };

  const writable = new WritableStream<Uint8Array>({
    start(c) {
      controller = c;
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
    },
    async write(chunk) {
      try {
        mustContinue();
        let o = 0;
        while (o < chunk.length) {
          const n = Math.min(partSize - filled, chunk.length - o);
          pieces.push(n === chunk.length ? chunk : chunk.subarray(o, o + n));
          if (released) owners.push(chunk), partsLeft.set(chunk, (partsLeft.get(chunk) ?? 0) + 1);
          filled += n;
          o += n;
          total += n;
          if (filled === partSize) {
            const full = pieces;
            const fullOwners = owners;
            pieces = [];
            owners = [];
            filled = 0;
            // Resolves only once the part has a slot: this is the backpressure upstream feels.
            await dispatch(full, fullOwners, partSize, false);
          }
        }
      } catch (e) {
        await fail(e);
        throw failure;
      }
    },
    async close() {
      try {
        mustContinue();
        if (!uploadId) {
          const { etag } = await client.put(key, pieces, { contentType: opts.contentType, objectLock: opts.objectLock });
          if (released) releaseAll(owners);
          opts.onProgress?.({ bytesUploaded: total, partsDone: 1 });
          settle.resolve({ bytes: total, parts: 1, etag, partSize });
        } else {
          if (filled > 0) await dispatch(pieces, owners, filled, true);
          pieces = [];
          while (inflight.size > 0) await Promise.allSettled([...inflight]);
          mustContinue();
          parts.sort((a, b) => a.partNumber - b.partNumber);
          completing = true;
          const { etag } = await client.completeMultipart(key, await uploadId, parts);
          settle.resolve({ bytes: total, parts: parts.length, etag, partSize });
        }
        signal?.removeEventListener("abort", onAbort);
      } catch (e) {
        await fail(e);
        throw failure;
      }
    },
    async abort(reason) {
      await fail(reason ?? new PgsealError("CANCELLED", `upload of ${key} aborted`));
    },
  });
  return { writable, result };
}
