// Pipeline stage: zstd (default) or gzip compression and decompression via node:zlib, off the JavaScript thread.
import { Duplex } from "node:stream";
import zlib from "node:zlib";
import type { Compression } from "../../../src/shared/catalog/artifact-keys.ts";

export const DEFAULT_LEVEL: Record<Compression, number> = { zstd: 3, gzip: 6 };
// Larger output chunks than zlib's 16 KiB default mean fewer stream hops downstream.
const CHUNK_BYTES = 256 * 1024;
/** gzip: input per member; a fresh 32 KiB window every MiB costs well under 1% of the ratio. */
export const GZIP_BLOCK_BYTES = 1024 * 1024;
/** gzip: members compressing at once on libuv's thread pool (4 threads; AES-GCM shares it). */
export const GZIP_PARALLEL = 3;

type Pair = { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };

/**
 * zstd streams through one zlib context: libzstd at level 3 runs at ~1 GB/s, and zlib's async
 * writes already run it on the thread pool, beside the JavaScript thread. gzip is 4-5 times
 * slower, so it is cut into independent members compressed in parallel (what pigz does, without
 * a second process): a series of members is a standard gzip stream (RFC 1952 §2.2) that gzip -d,
 * zcat and node:zlib read as one. zstd is not split: node:zlib's decoder stops after one frame.
 */
export function compressStage(algorithm: Compression, level = DEFAULT_LEVEL[algorithm]): Pair {
  if (algorithm === "gzip") return parallelGzip(level);
  return consumingStage(zlib.createZstdCompress({ chunkSize: CHUNK_BYTES, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }));
}

/**
 * A zlib stream as a stage whose write resolves once zlib has consumed the chunk (the write's
 * callback), where Duplex.toWeb resolves as soon as Node's writable has queued it: the backup
 * hands the chunk's buffer back to the source then (ChunkPool), so the stage must be done with it.
 * libzstd copies its input into its own window, so nothing points into the chunk afterwards.
 */
function consumingStage(z: zlib.ZstdCompress): TransformStream<Uint8Array, Uint8Array> {
  let ended!: Promise<void>;
  // `cancel` (an abort of the stage, Node 24 calls it) is in the Streams spec but not yet in TypeScript's Transformer type.
  const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(): void } = {
    start(controller) {
      z.on("data", (d: Buffer) => controller.enqueue(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
      ended = new Promise<void>((resolve, reject) => {
        z.once("end", resolve);
        z.once("error", reject);
      });
      ended.catch(() => {}); // a zlib error also rejects the write or the flush that is waiting on it
    },
    transform(chunk) {
      return new Promise<void>((resolve, reject) => z.write(chunk, (e) => (e ? reject(e) : resolve())));
    },
    async flush() {
      z.end();
      await ended;
    },
    cancel() {
      z.destroy();
    },
  };
  return new TransformStream(transformer);
}

export function decompressStage(algorithm: Compression): Pair {
  const z = algorithm === "zstd" ? zlib.createZstdDecompress({ chunkSize: CHUNK_BYTES }) : zlib.createGunzip({ chunkSize: CHUNK_BYTES });
  return Duplex.toWeb(z) as Pair;
}

function gzipMember(block: Uint8Array, level: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => zlib.gzip(block, { level }, (e, out) => (e ? reject(e) : resolve(out))));
}

/** Members in input order, at most GZIP_PARALLEL compressing; the stream waits for the oldest when all are busy. */
function parallelGzip(level: number, blockBytes = GZIP_BLOCK_BYTES, parallel = GZIP_PARALLEL): TransformStream<Uint8Array, Uint8Array> {
  const inflight: Promise<Uint8Array>[] = [];
  // A block is filled again once its member is compressed (zlib is done reading it then): a fresh
  // MiB per member made the garbage collector run as often as fresh source chunks did.
  const spare: Uint8Array[] = [];
  let block: Uint8Array | null = null;
  let filled = 0;
  let dispatched = false;
  const dispatch = async (controller: TransformStreamDefaultController<Uint8Array>, bytes: Uint8Array) => {
    const member = gzipMember(bytes, level);
    member.then(
      () => spare.push(bytes),
      () => {}, // awaited in order below; an early failure must not count as unhandled meanwhile
    );
    inflight.push(member);
    while (inflight.length >= parallel) controller.enqueue(await inflight.shift()!);
    dispatched = true;
  };
  return new TransformStream({
    async transform(chunk, controller) {
      let o = 0;
      while (o < chunk.length) {
        block ??= spare.pop() ?? new Uint8Array(blockBytes);
        const n = Math.min(blockBytes - filled, chunk.length - o);
        block.set(chunk.subarray(o, o + n), filled);
        filled += n;
        o += n;
        if (filled === blockBytes) {
          const full = block;
          block = null;
          filled = 0;
          await dispatch(controller, full);
        }
      }
    },
    async flush(controller) {
      // Empty input still makes one (empty) member, as a gzip stream must hold at least one.
      if (filled > 0 || !dispatched) inflight.push(gzipMember(block ? block.subarray(0, filled) : new Uint8Array(0), level));
      while (inflight.length > 0) controller.enqueue(await inflight.shift()!);
    },
  });
}
