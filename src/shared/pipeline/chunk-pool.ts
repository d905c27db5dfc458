// Buffers a source fills again once every stage that reads them has said it is done: fresh 512 KiB buffers per chunk are what made V8 collect garbage every ~15 MB.

/**
 * A chunk from `acquire` carries `holders` holds; each holder calls `release(chunk)` once it will
 * never read the chunk again (the pipeline runner does it for a stage when the stage's write of
 * that chunk has resolved: see `PipelineStage.written`). The last release puts the buffer back.
 * A chunk that never gets all its releases (a failed pipeline, a stage that dropped it) is simply
 * left to the garbage collector. Every holder must truly be done at release: a buffer handed out
 * again while a stage still reads it would put other bytes into that stage.
 */
export class ChunkPool {
  readonly chunkBytes: number;
  readonly #holders: number;
  readonly #keep: number;
  readonly #poison: boolean;
  readonly #free: Uint8Array[] = [];
  readonly #holds = new WeakMap<Uint8Array, number>();
  /** Buffers made, and buffers handed out again: for tests and the bench. */
  made = 0;
  reused = 0;

  /**
   * `keep`: the most free buffers kept (more than the pipeline ever has in flight only wastes memory).
   * `poison`: tests only; fills a returned buffer with 0xA5 so that a reader released too early reads garbage.
   */
  constructor(opts: { chunkBytes: number; holders: number; keep?: number; poison?: boolean }) {
    this.chunkBytes = opts.chunkBytes;
    this.#holders = opts.holders;
    this.#keep = opts.keep ?? 16;
    this.#poison = opts.poison ?? false;
  }

  acquire(): Uint8Array {
    let buf = this.#free.pop();
    if (buf) this.reused++;
    else (buf = new Uint8Array(this.chunkBytes)), this.made++;
    this.#holds.set(buf, this.#holders);
    return buf;
  }

  /** One holder is done with `chunk`. A chunk the pool did not hand out (a partial last chunk is a view) is ignored. */
  release = (chunk: Uint8Array): void => {
    const n = this.#holds.get(chunk);
    if (n === undefined) return;
    if (n > 1) {
      this.#holds.set(chunk, n - 1);
      return;
    }
    this.#holds.delete(chunk);
    if (this.#free.length >= this.#keep) return;
    if (this.#poison) chunk.fill(0xa5);
    this.#free.push(chunk);
  };
}
