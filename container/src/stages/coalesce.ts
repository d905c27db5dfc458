// A child process's output as a Web stream of large chunks, closed only once the process is known to have succeeded.
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { ChunkPool } from "../../../src/shared/pipeline/chunk-pool.ts";

/**
 * Pipes hand Node whatever the writer wrote since the last read: pg_dump writes in 4-8 KiB pieces,
 * so a dump arrives as ~9 KiB chunks, and every chunk then pays each downstream stage's per-chunk
 * cost (promises, queues, GC). Gluing them into `chunkBytes` pieces costs one memcpy per byte and
 * cut the pipeline's CPU per GB by more than half (docs/PERFORMANCE.md).
 */
export const SOURCE_CHUNK_BYTES = 512 * 1024;
/** What one read of the pipe may return at most (the pipe holds 64 KiB). */
const READ_BYTES = 64 * 1024;

/** Copies bytes into fresh `chunkBytes` buffers and hands each full one to `emit`. */
class Glue {
  #buf: Uint8Array | null = null;
  #filled = 0;
  readonly #size: number;
  readonly #emit: (chunk: Uint8Array) => void;
  readonly #pool: ChunkPool | undefined;
  constructor(size: number, emit: (chunk: Uint8Array) => void, pool?: ChunkPool) {
    this.#size = pool?.chunkBytes ?? size;
    this.#emit = emit;
    this.#pool = pool;
  }
  push(data: Uint8Array): void {
    for (let o = 0; o < data.length; ) {
      this.#buf ??= this.#pool?.acquire() ?? new Uint8Array(this.#size);
      const n = Math.min(this.#size - this.#filled, data.length - o);
      this.#buf.set(data.subarray(o, o + n), this.#filled);
      this.#filled += n;
      o += n;
      if (this.#filled === this.#size) this.end();
    }
  }
  end(): void {
    if (this.#buf && this.#filled > 0) this.#emit(this.#filled === this.#size ? this.#buf : this.#buf.subarray(0, this.#filled));
    this.#buf = null;
    this.#filled = 0;
  }
}

/** What a source needs from its input: start reading (pushing into `glue`), pause, resume, stop; resolves when the input ended. */
interface Input {
  start(glue: Glue, full: () => boolean): Promise<void>;
  pause(): void;
  resume(): void;
  destroy(): void;
}

function gluedStream(input: Input, success: Promise<void>, chunkBytes: number, pool?: ChunkPool): ReadableStream<Uint8Array> {
  // Closed, errored or cancelled: nothing more may be enqueued. The FIFO can still hold up to
  // 64 KiB after pg_dump's exit failed the stream, and enqueue would throw in a read callback.
  let done = false;
  let paused = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const glue = new Glue(
          chunkBytes,
          (c) => {
            if (!done) controller.enqueue(c);
          },
          pool,
        );
        const full = () => (controller.desiredSize ?? 1) <= 0;
        const ended = input.start(glue, () => {
          if (full()) (paused = true), input.pause();
          return paused;
        });
        // The process's verdict, not the pipe's end, settles the stream: a dump that failed halfway never closes cleanly.
        Promise.all([ended.then(() => glue.end()), success]).then(
          () => {
            if (done) return;
            done = true;
            controller.close();
          },
          (e: unknown) => {
            if (!done) controller.error(e);
            done = true;
            input.destroy();
          },
        );
      },
      pull() {
        if (paused) (paused = false), input.resume();
      },
      cancel() {
        done = true;
        input.destroy();
      },
    },
    { highWaterMark: 2 },
  );
}

/** A Node readable (a child's stdout pipe), glued into large chunks; `success` settles the stream. */
export function coalescedSource(input: Readable, success: Promise<void>, chunkBytes = SOURCE_CHUNK_BYTES, pool?: ChunkPool): ReadableStream<Uint8Array> {
  return gluedStream(
    {
      start: (glue, full) =>
        new Promise<void>((resolve, reject) => {
          input.on("data", (data: Uint8Array) => (glue.push(data), full()));
          input.on("end", resolve);
          input.on("error", reject);
        }),
      pause: () => input.pause(),
      resume: () => input.resume(),
      destroy: () => input.destroy(),
    },
    success,
    chunkBytes,
    pool,
  );
}

/**
 * A FIFO for a child's stdout, read into one reused buffer (net.Socket's `onread`): a stdio pipe
 * allocates a fresh buffer per read, ~70,000 of them per GB of pg_dump output, and collecting
 * that garbage was the largest single cost left on the JavaScript thread. Null where mkfifo is
 * missing; the caller then uses a stdio pipe and `coalescedSource`.
 */
export function openFifo(): {
  writeFd: number;
  closeWriter(): void;
  /** Closes both ends when no reader will ever be made (the child could not be started). */
  abandon(): void;
  readable(success: Promise<void>, chunkBytes?: number, pool?: ChunkPool): ReadableStream<Uint8Array>;
} | null {
  let dir: string | undefined;
  let readFd: number | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), "pgseal-fifo-"));
    const path = join(dir, "out");
    execFileSync("mkfifo", ["-m", "600", path], { stdio: "ignore" });
    // Reader first, non-blocking (libuv's event loop reads it); then the child's end, blocking, as pipes are.
    readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeFd = openSync(path, constants.O_WRONLY);
    rmSync(dir, { recursive: true, force: true }); // the open ends keep the FIFO alive; no name is left behind
    const rfd = readFd;
    let writerOpen = true;
    return {
      writeFd,
      closeWriter() {
        if (writerOpen) (writerOpen = false), closeSync(writeFd);
      },
      abandon() {
        this.closeWriter();
        closeSync(rfd);
      },
      readable(success, chunkBytes = SOURCE_CHUNK_BYTES, pool) {
        let socket: net.Socket | undefined;
        return gluedStream(
          {
            start: (glue, full) =>
              new Promise<void>((resolve, reject) => {
                const scratch = new Uint8Array(READ_BYTES);
                socket = new net.Socket({
                  fd: rfd,
                  readable: true,
                  writable: false,
                  // The scratch buffer is reused by the next read: glue copies out of it before returning.
                  onread: { buffer: scratch, callback: (n: number, buf: Uint8Array) => (glue.push(buf.subarray(0, n)), !full()) },
                } as net.SocketConstructorOpts);
                socket.on("end", resolve);
                socket.on("error", reject);
              }),
            pause: () => socket?.pause(),
            resume: () => socket?.resume(),
            destroy: () => socket?.destroy(),
          },
          success,
          chunkBytes,
          pool,
        );
      },
    };
  } catch {
    // No mkfifo (or no temp dir): the stdio pipe works everywhere, only costs more CPU.
    if (readFd !== undefined) closeSync(readFd);
    if (dir) rmSync(dir, { recursive: true, force: true });
    return null;
  }
}
