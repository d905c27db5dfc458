// Pipeline sink: bytes → fixed-size parts → S3 multipart upload, bounded parts in flight, aborted on any failure.
import { PgsealError } from "./errors.ts";
import type { S3Client } from "./s3.ts";

const MiB = 1024 * 1024;
export const MIN_PART_BYTES = 5 * MiB;
export const DEFAULT_PART_BYTES = 8 * MiB;
export const MAX_PART_BYTES = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
/** Plan for 9,000 parts at twice the expected size: the database may grow while it is dumped. */
const PLANNED_PARTS = 9_000;
const GROWTH_FACTOR = 2;

/**
 * One part size for the whole upload (R2 rejects unequal non-trailing parts), chosen so that
 * expectedBytes × 2 fits in 9,000 parts: 8 MiB up to ~35 GiB, then whole MiB steps, 5 GiB at most.
 */
export function choosePartSize(expectedBytes?: number): number {
  if (!expectedBytes || expectedBytes <= 0) return DEFAULT_PART_BYTES;
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
  onProgress?: (p: UploadProgress) => void;
  signal?: AbortSignal;
}

export const DEFAULT_CONCURRENCY = 4;

/**
 * Memory is bounded by partSize × (concurrency + 1): one part filling, `concurrency` uploading.
 * An object smaller than one part is a single PUT (nothing to abort, two requests saved).
 */
export function createUploadSink(client: S3Client, key: string, opts: UploadSinkOptions): { writable: WritableStream<Uint8Array>; result: Promise<UploadResult> } {
  const { partSize } = opts;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(partSize) || partSize < MIN_PART_BYTES || partSize > MAX_PART_BYTES) {
    throw new PgsealError("S3_PART_SIZE", `part size ${partSize} is outside ${MIN_PART_BYTES}..${MAX_PART_BYTES} bytes`);
  }
  let buffer = new Uint8Array(partSize);
  let filled = 0;
  let nextPart = 1;
  let total = 0;
  let uploaded = 0;
  let uploadId: Promise<string> | undefined;
  let failure: unknown;
  const inflight = new Set<Promise<void>>();
  const parts: { partNumber: number; etag: string }[] = [];
  let settle!: { resolve: (r: UploadResult) => void; reject: (e: unknown) => void };
  const result = new Promise<UploadResult>((resolve, reject) => (settle = { resolve, reject }));
  result.catch(() => {});

  const dispatch = async (bytes: Uint8Array, last: boolean) => {
    if (!last && bytes.length !== partSize) {
      throw new PgsealError("S3_PART_SIZE", `part ${nextPart} is ${bytes.length} bytes; every part but the last must be ${partSize}`);
    }
    if (nextPart > MAX_PARTS) {
      throw new PgsealError("S3_PART_SIZE", `the upload needs more than ${MAX_PARTS} parts of ${partSize} bytes: the database outgrew its size estimate; use a larger part size`);
    }
    while (inflight.size >= concurrency) await Promise.race(inflight);
    if (failure) throw failure;
    uploadId ??= client.createMultipart(key, { contentType: opts.contentType });
    const id = await uploadId;
    const partNumber = nextPart++;
    const p = client.uploadPart(key, id, partNumber, bytes).then(
      (etag) => {
        parts.push({ partNumber, etag });
        uploaded += bytes.length;
        opts.onProgress?.({ bytesUploaded: uploaded, partsDone: parts.length });
      },
      (e) => void (failure ??= e),
    );
    const tracked = p.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };

  const fail = async (reason: unknown) => {
    failure ??= reason;
    await Promise.allSettled(inflight);
    if (uploadId) {
      const id = await uploadId.catch(() => undefined);
      if (id) await client.abortMultipart(key, id).catch(() => {});
    }
    settle.reject(failure);
  };

  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      try {
        if (opts.signal?.aborted) throw new PgsealError("CANCELLED", `upload of ${key} cancelled`);
        if (failure) throw failure;
        let o = 0;
        while (o < chunk.length) {
          const n = Math.min(partSize - filled, chunk.length - o);
          buffer.set(chunk.subarray(o, o + n), filled);
          filled += n;
          o += n;
          total += n;
          if (filled === partSize) {
            const full = buffer;
            buffer = new Uint8Array(partSize);
            filled = 0;
            await dispatch(full, false);
          }
        }
      } catch (e) {
        await fail(e);
        throw failure;
      }
    },
    async close() {
      try {
        if (!uploadId) {
          // Everything fit in one buffer: a single PUT.
          const { etag } = await client.put(key, buffer.subarray(0, filled), { contentType: opts.contentType });
          opts.onProgress?.({ bytesUploaded: filled, partsDone: 1 });
          settle.resolve({ bytes: total, parts: 1, etag, partSize });
          return;
        }
        if (filled > 0) await dispatch(buffer.subarray(0, filled), true);
        await Promise.allSettled(inflight);
        if (failure) throw failure;
        parts.sort((a, b) => a.partNumber - b.partNumber);
        const { etag } = await client.completeMultipart(key, await uploadId, parts);
        settle.resolve({ bytes: total, parts: parts.length, etag, partSize });
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
