// A child process's output as a Web stream of large chunks, closed only once the process is known to have succeeded.
import type { Readable } from "node:stream";

/**
 * Pipes hand Node whatever the writer wrote since the last read: pg_dump writes in 4-8 KiB pieces,
 * so a dump arrives as ~9 KiB chunks, and every chunk then pays each downstream stage's per-chunk
 * cost (promises, queues, GC). Gluing them into `chunkBytes` pieces costs one memcpy per byte and
 * cut the pipeline's CPU per GB by more than half (docs/PERFORMANCE.md).
 */
export const SOURCE_CHUNK_BYTES = 512 * 1024;

/**
 * `success` decides how the stream ends: it closes when `success` resolves after the input ended,
 * errors when it rejects. Backpressure pauses the Node stream. Cancelling destroys it.
 */
export function coalescedSource(input: Readable, success: Promise<void>, chunkBytes = SOURCE_CHUNK_BYTES): ReadableStream<Uint8Array> {
  let buf: Uint8Array | null = null;
  let filled = 0;
  let cancelled = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const emit = () => {
    if (!buf || filled === 0) return;
    controller.enqueue(filled === buf.length ? buf : buf.subarray(0, filled));
    buf = null;
    filled = 0;
  };
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        input.on("data", (data: Uint8Array) => {
          let o = 0;
          // A chunk at least as large as ours needs no copy when nothing is pending.
          if (filled === 0 && data.length >= chunkBytes) {
            controller.enqueue(data);
            o = data.length;
          }
          while (o < data.length) {
            buf ??= new Uint8Array(chunkBytes);
            const n = Math.min(chunkBytes - filled, data.length - o);
            buf.set(data.subarray(o, o + n), filled);
            filled += n;
            o += n;
            if (filled === chunkBytes) emit();
          }
          if ((controller.desiredSize ?? 1) <= 0) input.pause();
        });
        const ended = new Promise<void>((resolve, reject) => {
          input.on("end", () => (emit(), resolve()));
          input.on("error", reject);
        });
        // The process's verdict, not the pipe's end, settles the stream: a dump that failed halfway never closes cleanly.
        Promise.all([ended, success]).then(
          () => {
            if (!cancelled) controller.close();
          },
          (e: unknown) => controller.error(e),
        );
      },
      pull() {
        if (input.isPaused()) input.resume();
      },
      cancel() {
        cancelled = true;
        input.destroy();
      },
    },
    { highWaterMark: 2 },
  );
}
