// A pass-through stream stage that lets a caller observe every chunk (byte counters, digests).
export function tap(observe: (chunk: Uint8Array) => void): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      observe(chunk);
      controller.enqueue(chunk);
    },
  });
}
