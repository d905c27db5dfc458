// The one pipeline runner: links a source, stream stages and a sink, settles only when every part has, and names the root cause.
//
// Why not `a.pipeThrough(b).pipeThrough(c).pipeTo(sink)`: that promise follows the last link
// only. A stage whose readable ends before its writable has (a zstd decoder at the end of its
// frame, a process that exits early) lets the chain "succeed" while an error upstream (a checksum
// that fails in its flush) is still on its way — and is then lost. Here each link is its own pipe,
// the sink is closed only after every link and every part's `done` has settled cleanly, and a
// failure anywhere aborts the sink instead (pg_restore rolls back, the upload is aborted).
import { PgsealError } from "../errors.ts";

/** One part of a chain. `done` is a part's own completion beyond its streams (a child process's exit, an upload's result). */
export interface PipelinePart {
  name: string;
  done?: Promise<unknown>;
  /** Stops the part at once on a failure elsewhere (kills its process, aborts its upload), without waiting for its stream to drain. */
  stop?: (reason: unknown) => void;
}
export interface PipelineSource extends PipelinePart {
  readable: ReadableStream<Uint8Array>;
}
export interface PipelineStage extends PipelinePart {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  /**
   * Called with each chunk once the stage's write of it resolved, for a stage that by then holds
   * no reference to the chunk's bytes (a ChunkPool's release): not called for chunks that were
   * not written, so after a failure the chunk is left to the garbage collector.
   */
  written?: (chunk: Uint8Array) => void;
}
export interface PipelineSink extends PipelinePart {
  writable: WritableStream<Uint8Array>;
}

export interface PipelineSpec {
  source: PipelineSource;
  stages: PipelineStage[];
  sink: PipelineSink;
  /** Aborting it fails the chain with `cancelReason()` (or a CANCELLED error). */
  signal?: AbortSignal;
  cancelReason?: () => unknown;
}

/** A stage from a TransformStream or a {readable, writable} pair, with a name for error reports. */
export function stage(name: string, t: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }, done?: Promise<unknown>): PipelineStage {
  return { name, readable: t.readable, writable: t.writable, ...(done ? { done } : {}) };
}

/**
 * Node and the streams spec raise these when a part is torn down because another one failed
 * (writing into a process that already exited, a pipe closed under a writer, an abort passed
 * along). They describe the symptom, never the cause, so any other error beats them.
 */
const CONSEQUENCE_CODES = new Set(["EPIPE", "ECONNRESET", "ERR_STREAM_PREMATURE_CLOSE", "ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END", "ERR_INVALID_STATE", "ABORT_ERR"]);

export function isConsequenceError(e: unknown): boolean {
  if (e instanceof PgsealError) return false;
  if (typeof e !== "object" || e === null) return e === undefined;
  const { code, name } = e as { code?: unknown; name?: unknown };
  return (typeof code === "string" && CONSEQUENCE_CODES.has(code)) || name === "AbortError";
}

/** The cause among the errors seen, in the order they were seen: the first that is not a mere consequence, else the first. */
export function rootCause(errors: readonly unknown[]): unknown {
  return errors.find((e) => !isConsequenceError(e)) ?? errors[0];
}

/**
 * Runs the chain to the end. Resolves only when every link, every `done` and the sink's close
 * have succeeded; otherwise rejects with the root cause, after every part has settled (so no
 * process or upload is still running when it returns).
 *
 * Links are pumped here rather than with pipeTo: tearing a chain down with pipeTo's abort can
 * hang forever in Node 24 when a write is parked on a TransformStream's backpressure while its
 * readable is cancelled. After a failure every link keeps reading and discards what it reads
 * (so parked writes upstream complete), and aborts its destination once its source has ended.
 */
export async function runPipeline(spec: PipelineSpec): Promise<void> {
  const { source, stages, sink, signal } = spec;
  const parts: PipelinePart[] = [source, ...stages, sink];
  const seen: unknown[] = [];
  let failure: { reason: unknown } | undefined;
  let stopped = false;
  const sourceReader = source.readable.getReader();
  const note = (e: unknown) => {
    if (!seen.includes(e)) seen.push(e);
    if (!failure) {
      failure = { reason: e };
      // No more input: a read parked on a source that will never produce again ends now.
      sourceReader.cancel(e).catch(note);
    }
    // A part's own failure stops every process and upload at once. A mere consequence (a broken
    // pipe) does not: the part that broke reports its own exit in a moment, and is told to stop
    // only through its stream, once that report had its chance.
    if (!stopped && !isConsequenceError(e)) {
      stopped = true;
      for (const p of parts) p.stop?.(e);
    }
  };
  const watch = (p: Promise<unknown>) => {
    const watched = p.then(
      () => undefined,
      (e: unknown) => (note(e), Promise.reject(e)),
    );
    watched.catch(() => undefined); // its rejection is recorded in `seen`; awaited later, it must not count as unhandled meanwhile
    return watched;
  };

  // Every part's own completion is watched from the start, so its error is seen in causal order.
  const sinkDone = sink.done ? watch(sink.done) : undefined;
  const upstreamDones = [source, ...stages].flatMap((p) => (p.done ? [watch(p.done)] : []));

  const cancel = () => note(spec.cancelReason?.() ?? new PgsealError("CANCELLED", "the operation was cancelled"));
  if (signal?.aborted) cancel();
  else signal?.addEventListener("abort", cancel, { once: true });

  const pump = async (reader: ReadableStreamDefaultReader<Uint8Array>, writable: WritableStream<Uint8Array>, last: boolean, written?: (chunk: Uint8Array) => void): Promise<void> => {
    const writer = writable.getWriter();
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        note(e);
        break;
      }
      if (r.done) break;
      // After a failure (here or anywhere) the link keeps reading and drops what it reads, so
      // writes parked upstream complete and the teardown reaches every part.
      const chunk = r.value;
      if (!failure) await writer.write(chunk).then(written && (() => written(chunk)), note);
    }
    // The last link never closes the sink: closing commits (pg_restore's transaction, the upload's
    // Complete), which the runner does only once everything upstream has succeeded.
    if (failure) await writer.abort(failure.reason).catch(note);
    else if (!last) await writer.close().catch(note);
    writer.releaseLock();
  };

  try {
    const readers = [sourceReader, ...stages.map((s) => s.readable.getReader())];
    const writables = [...stages.map((s) => s.writable), sink.writable];
    const links = readers.map((r, i) => pump(r, writables[i], i === readers.length - 1, stages[i]?.written));
    await Promise.allSettled([...links, ...upstreamDones]);
    if (!failure) await sink.writable.close().catch(note);
    else {
      // The last link may have ended cleanly before the failure upstream: the sink must still roll back.
      await sink.writable.abort(rootCause(seen)).catch(note);
      if (!stopped) {
        stopped = true;
        for (const p of parts) p.stop?.(rootCause(seen));
      }
    }
    if (sinkDone) await sinkDone.catch(() => undefined); // its error, if any, is in `seen`
    if (failure) throw rootCause(seen);
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
}
