// The decrypt stream's input buffer: chunks in, exact-length byte ranges out (header, record words, sealed segments).

/** Accumulates input chunks and hands out exact-length byte ranges (a view when one chunk holds them). */
export class ByteRanges {
  #chunks: Uint8Array[] = [];
  #first = 0;
  #head = 0;
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.length += chunk.length;
  }

  peek(n: number): Uint8Array {
    return this.#copy(n, false);
  }

  take(n: number): Uint8Array {
    return this.#copy(n, true);
  }

  #copy(n: number, consume: boolean): Uint8Array {
    const first = this.#chunks[this.#first];
    let out: Uint8Array;
    if (first && first.length - this.#head >= n) {
      out = first.subarray(this.#head, this.#head + n);
    } else {
      out = new Uint8Array(n);
      for (let o = 0, i = this.#first, head = this.#head; o < n; i++, head = 0) {
        const c = this.#chunks[i];
        const k = Math.min(n - o, c.length - head);
        out.set(c.subarray(head, head + k), o);
        o += k;
      }
    }
    if (consume) this.#advance(n);
    return out;
  }

  #advance(n: number): void {
    this.length -= n;
    while (n > 0) {
      const rest = this.#chunks[this.#first].length - this.#head;
      if (n < rest) {
        this.#head += n;
        return;
      }
      n -= rest;
      this.#head = 0;
      this.#first++;
    }
    // Compact now and then instead of shift() per chunk: 1-byte chunkings stay linear.
    if (this.#first > 1024 || this.#first === this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#first);
      this.#first = 0;
    }
  }
}
