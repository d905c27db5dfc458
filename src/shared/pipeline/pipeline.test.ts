// The pipeline runner: every failure anywhere fails the chain with its own error, and the sink commits only after everything succeeded.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PgsealError } from "../errors.ts";
import { isConsequenceError, rootCause, runPipeline, stage, type PipelineStage } from "./pipeline.ts";

type Where = "start" | "byte" | "flush";

function sourceOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]);
      else c.close();
    },
  });
}

/** A pass-through stage that fails with `error` at its start, after `at` bytes, or in its flush. */
function faulty(name: string, fault?: { where: Where; at: number; error: Error }): PipelineStage {
  let seen = 0;
  return stage(
    name,
    new TransformStream<Uint8Array, Uint8Array>({
      // A failed start (a tool that cannot run) errors the stream once it is in use.
      start: () => (fault?.where === "start" ? Promise.reject(fault.error) : undefined),
      transform(chunk, c) {
        seen += chunk.length;
        if (fault?.where === "byte" && seen >= fault.at) throw fault.error;
        c.enqueue(chunk);
      },
      flush() {
        if (fault?.where === "flush") throw fault.error;
      },
    }),
  );
}

/** Like a zstd decoder at the end of its frame: its readable ends after `bytes` while its writable still takes input. */
function endsEarly(name: string, bytes: number): PipelineStage {
  let readable!: ReadableStreamDefaultController<Uint8Array>;
  let passed = 0;
  let closed = false;
  return {
    name,
    readable: new ReadableStream({ start: (c) => void (readable = c) }),
    writable: new WritableStream({
      write(chunk) {
        if (closed) return;
        const n = Math.min(chunk.length, bytes - passed);
        readable.enqueue(chunk.subarray(0, n));
        passed += n;
        if (passed >= bytes) (closed = true), readable.close();
      },
      close() {
        if (!closed) readable.close();
      },
      // Like every real stage: an abort of its input errors its output (unless that already ended).
      abort(reason) {
        if (!closed) readable.error(reason);
      },
    }),
  };
}

/** A sink that records whether it committed (close) or rolled back (abort), like pg_restore in one transaction. */
function recordingSink(opts: { failAfter?: number; error?: Error } = {}) {
  const state = { bytes: 0, committed: false, aborted: false as unknown };
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      state.bytes += chunk.length;
      if (opts.failAfter !== undefined && state.bytes >= opts.failAfter) throw opts.error;
    },
    close() {
      state.committed = true;
    },
    abort(reason) {
      state.aborted = reason ?? true;
    },
  });
  return { state, sink: { name: "sink", writable } };
}

function chunked(total: number, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let left = total;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, sizes[i % sizes.length]);
    out.push(new Uint8Array(n).fill(i & 0xff));
    left -= n;
  }
  return out;
}

describe("runPipeline", () => {
  it("commits the sink once every stage has finished and passes every byte", async () => {
    const { state, sink } = recordingSink();
    await runPipeline({ source: { name: "src", readable: sourceOf(chunked(10_000, [333])) }, stages: [faulty("a"), faulty("b")], sink });
    expect(state).toEqual({ bytes: 10_000, committed: true, aborted: false });
  });

  it("fails with an upstream flush error even when a later stage's readable has already ended", async () => {
    // The shape of the lost sha256 mismatch: verify (fails in flush) → … → a decoder that ends at its frame.
    const bad = new PgsealError("ARTIFACT_CORRUPT", "sha256 differs");
    const { state, sink } = recordingSink();
    const run = runPipeline({ source: { name: "src", readable: sourceOf(chunked(4096, [512])) }, stages: [faulty("verify", { where: "flush", at: 0, error: bad }), endsEarly("zstd", 4096)], sink });
    await expect(run).rejects.toBe(bad);
    expect(state.committed).toBe(false);
    expect(state.aborted).toBe(bad);
  });

  it("prefers a part's own error to the broken pipe it caused", async () => {
    const epipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
    const exit = new PgsealError("PG_RESTORE_FAILED", "pg_restore: error: unsupported version (1.16) in file header");
    let reportExit!: () => void;
    const done = new Promise<never>((_, reject) => (reportExit = () => reject(exit)));
    const sink = {
      name: "pg_restore",
      done,
      writable: new WritableStream<Uint8Array>({
        write() {
          // The process has exited: the write breaks first, its exit status arrives a moment later.
          setTimeout(reportExit, 5);
          throw epipe;
        },
      }),
    };
    await expect(runPipeline({ source: { name: "src", readable: sourceOf(chunked(100, [10])) }, stages: [faulty("a")], sink })).rejects.toBe(exit);
  });

  it("reports a consumer that stops early as that consumer's error, not as success", async () => {
    const epipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
    const { sink } = recordingSink({ failAfter: 50, error: epipe });
    await expect(runPipeline({ source: { name: "src", readable: sourceOf(chunked(1000, [10])) }, stages: [faulty("a")], sink })).rejects.toBe(epipe);
  });

  it("fails when a part's done rejects although every stream closed cleanly", async () => {
    const exit = new PgsealError("PG_DUMP_FAILED", "pg_dump exited with 1");
    const { state, sink } = recordingSink();
    const source = { name: "pg_dump", readable: sourceOf(chunked(100, [10])), done: Promise.reject(exit) };
    await expect(runPipeline({ source, stages: [], sink })).rejects.toBe(exit);
    expect(state.committed).toBe(false);
  });

  it("cancels every part with the cancel reason when the signal fires", async () => {
    const ac = new AbortController();
    const { state, sink } = recordingSink();
    const never = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
    const run = runPipeline({ source: { name: "src", readable: never }, stages: [faulty("a")], sink, signal: ac.signal });
    ac.abort();
    await expect(run).rejects.toMatchObject({ code: "CANCELLED" });
    expect(state.committed).toBe(false);
    expect(state.aborted).toMatchObject({ code: "CANCELLED" });
  });

  it("fails with exactly the injected stage's error wherever it is injected, and never commits (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 4 }),
        fc.constantFrom<Where>("start", "byte", "flush"),
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        async (count, pick, where, at, sizes, early) => {
          const total = 3000;
          const k = pick % count;
          const error = new PgsealError("ARTIFACT_CORRUPT", `stage ${k} failed at ${where}`);
          const stages = Array.from({ length: count }, (_, i) => (i === k ? faulty(`s${i}`, { where, at, error }) : faulty(`s${i}`)));
          // Sometimes a stage after the faulty one ends its output early, as a decoder at its frame's end does.
          if (early && k < count - 1) stages[count - 1] = endsEarly(`s${count - 1}`, total);
          const { state, sink } = recordingSink();
          await expect(runPipeline({ source: { name: "src", readable: sourceOf(chunked(total, sizes)) }, stages, sink })).rejects.toBe(error);
          expect(state.committed).toBe(false);
        },
      ),
      { numRuns: 300, timeout: 2000 },
    );
  });
});

describe("rootCause", () => {
  it("names broken pipes and aborts as consequences and everything else as causes", () => {
    expect(isConsequenceError(Object.assign(new Error("x"), { code: "EPIPE" }))).toBe(true);
    expect(isConsequenceError(new DOMException("aborted", "AbortError"))).toBe(true);
    expect(isConsequenceError(new PgsealError("S3_FORBIDDEN", "no"))).toBe(false);
    expect(isConsequenceError(Object.assign(new Error("disk"), { code: "ENOSPC" }))).toBe(false);
    const epipe = Object.assign(new Error("x"), { code: "EPIPE" });
    const real = new Error("real");
    expect(rootCause([epipe, real])).toBe(real);
    expect(rootCause([epipe])).toBe(epipe);
  });
});
