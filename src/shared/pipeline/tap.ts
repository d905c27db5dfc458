// A pass-through stream stage that lets a caller observe every chunk (byte counters, digests).
export function tap(observe: (chunk: Uint8Array) => void): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      observe(chunk);
      controller.enqueue(chunk);
    },
  });
}

/**
 * Pass-through that also writes every chunk to `side`, waiting for it (so a slow side slows the
 * stream instead of buffering without bound). A side that fails is dropped and reported through
 * `onSideError`; the main stream goes on. The side is closed at the end; `abort` ends it when the
 * main stream fails (a TransformStream is not told of that).
 */
export function copyTo(side: WritableStream<Uint8Array>, onSideError: (e: unknown) => void): { stage: TransformStream<Uint8Array, Uint8Array>; abort(reason: unknown): void } {
  const writer = side.getWriter();
  let done = false;
  const drop = (e: unknown, report: boolean) => {
    if (done) return;
    done = true;
    if (report) onSideError(e);
    writer.abort(e).catch(() => {});
  };
  const stage = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      controller.enqueue(chunk);
      if (!done) await writer.write(chunk).catch((e: unknown) => drop(e, true));
    },
    async flush() {
      if (done) return;
      done = true;
      await writer.close().catch((e: unknown) => onSideError(e));
    },
  });
  return { stage, abort: (reason) => drop(reason, false) };
}
