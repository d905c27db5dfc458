// Pipeline stage: zstd (default) or gzip compression and decompression via node:zlib, off the JavaScript thread.
import { Duplex } from "node:stream";
import zlib from "node:zlib";
import type { Compression } from "../../../src/shared/catalog/artifact-keys.ts";

export const DEFAULT_LEVEL: Record<Compression, number> = { zstd: 3, gzip: 6 };
/** The levels offered (CLI, streamer API): zstd above 19 needs far more memory than a container has to spare. */
export const LEVEL_RANGE: Record<Compression, readonly [number, number]> = { zstd: [1, 19], gzip: [1, 9] };

/** Why `level` is no level of `algorithm`, or undefined when it is one. */
export function levelProblem(algorithm: Compression, level: unknown): string | undefined {
  const [min, max] = LEVEL_RANGE[algorithm];
  if (typeof level === "number" && Number.isInteger(level) && level >= min && level <= max) return undefined;
  return `must be an integer ${min}-${max} for ${algorithm}`;
}
// Larger output chunks than zlib's 16 KiB default mean fewer stream hops downstream.
const CHUNK_BYTES = 256 * 1024;
/** gzip: input per member; a fresh 32 KiB window every MiB costs well under 1% of the ratio. */
export const GZIP_BLOCK_BYTES = 1024 * 1024;
/**
 * gzip: members compressing at once on libuv's thread pool (4 threads; AES-GCM shares it). One
 * per pool thread: a member waiting in the queue keeps a thread busy while the JavaScript thread
 * is elsewhere (2-3% less wall time than 3, measured alternating; 2 MiB members were as fast but
 * peaked near 160 MiB).
 */
export const GZIP_PARALLEL = 4;

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

/**
 * One deflate context that compresses a member at a time and is reset in between (deflateReset
 * keeps its ~260 KiB of state): a fresh `zlib.gzip()` per member allocated that state, a stream
 * and the joined output again for every MiB.
 */
class GzipContext {
  // Node's Gzip has reset() (deflateReset); @types/node declares it only on Deflate.
  readonly #z: zlib.Gzip & zlib.ZlibReset;
  #out: Uint8Array[] = [];
  #failed: ((e: unknown) => void) | undefined;

  constructor(level: number) {
    // zlib returns to the JavaScript thread each time its output buffer is full: with the 16 KiB
    // default a member took ~5 such trips, and the pool's thread waited for a busy JavaScript
    // thread in each (7-10% of the wall time, measured). 256 KiB holds a typical member whole and
    // is sliced across members; 1 MiB was no faster and peaked higher (docs/PERFORMANCE.md).
    this.#z = zlib.createGzip({ level, chunkSize: CHUNK_BYTES }) as zlib.Gzip & zlib.ZlibReset;
    // Flowing: each chunk is handed over as zlib makes it, so all of a member's output has arrived by the flush callback.
    this.#z.on("data", (d: Buffer) => this.#out.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
    this.#z.on("error", (e) => this.#failed?.(e));
  }

  /** `block` as one gzip member, as the chunks zlib wrote it in. zlib is done reading `block` once this resolves. */
  member(block: Uint8Array): Promise<Uint8Array[]> {
    return new Promise((resolve, reject) => {
      this.#failed = reject;
      this.#z.write(block);
      // A failed write calls this with its error, possibly before "error" is emitted: never resolve then.
      this.#z.flush(zlib.constants.Z_FINISH, (e?: unknown) => {
        if (e) return reject(e);
        const out = this.#out;
        this.#out = [];
        this.#failed = undefined;
        this.#z.reset();
        resolve(out);
      });
    });
  }

  close(): void {
    this.#z.close();
  }
}

/** Members in input order, at most GZIP_PARALLEL compressing; the stream waits for the oldest when all are busy. */
function parallelGzip(level: number, blockBytes = GZIP_BLOCK_BYTES, parallel = GZIP_PARALLEL): TransformStream<Uint8Array, Uint8Array> {
  const inflight: Promise<Uint8Array[]>[] = [];
  const contexts: GzipContext[] = [];
  const idle: GzipContext[] = [];
  // A block is filled again once its member is compressed (zlib is done reading it then): a fresh
  // MiB per member made the garbage collector run as often as fresh source chunks did.
  const spare: Uint8Array[] = [];
  let block: Uint8Array | null = null;
  let filled = 0;
  let dispatched = false;
  const opened = (c: GzipContext) => (contexts.push(c), c);
  const compress = (bytes: Uint8Array) => {
    const context = idle.pop() ?? opened(new GzipContext(level));
    const member = context.member(bytes);
    member.then(
      () => (spare.push(bytes), idle.push(context)),
      () => {}, // awaited in order below; an early failure must not count as unhandled meanwhile
    );
    inflight.push(member);
  };
  const closeAll = () => {
    for (const c of contexts) c.close();
  };
  const emit = async (controller: TransformStreamDefaultController<Uint8Array>) => {
    // A failed member fails the stage, which nothing then cancels: free the contexts here.
    const out = await inflight.shift()!.catch((e: unknown) => (closeAll(), Promise.reject(e)));
    for (const c of out) controller.enqueue(c);
  };
  // `cancel` (an abort of the stage, Node 24 calls it) is in the Streams spec but not yet in TypeScript's Transformer type.
  const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(): void } = {
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
          compress(full);
          dispatched = true;
          while (inflight.length >= parallel) await emit(controller);
        }
      }
    },
    async flush(controller) {
      // Empty input still makes one (empty) member, as a gzip stream must hold at least one.
      if (filled > 0 || !dispatched) compress(block ? block.subarray(0, filled) : new Uint8Array(0));
      try {
        while (inflight.length > 0) await emit(controller);
      } finally {
        closeAll();
      }
    },
    cancel: closeAll,
  };
  return new TransformStream(transformer);
}
