// The dump inventory's input: the bytes the stage passed on, queued for the archive parser, with the row scan's fast path over them.
import { PgsealError } from "../../../src/shared/errors.ts";
import type { BlockDigest } from "./copy-digest.ts";
import { RowScanner, SCAN_BLOCK_END, SCAN_MORE, SCAN_NEGATIVE, SCAN_STAGE_FULL } from "./row-scan.ts";

export const NEWLINE = 0x0a;
/** Bytes of a block's last piece kept (copied) for the end-marker check: the marker piece is 3-4 bytes. */
export const TAIL_KEEP_BYTES = 64;

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The bytes the stage has passed on and the parser has yet to read; reads wait for more input.
 * `push` resolves once the parser has read all it can and waits for more; `compact` then copies
 * what is left unread, so the queue holds no view of a chunk once the stage's write of it resolved
 * (the source reuses the chunk's buffer then: ChunkPool).
 */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #offset = 0;
  queued = 0;
  #ended = false;
  #abandoned = false;
  #wake: (() => void) | null = null;
  #idle: (() => void) | null = null;
  readonly #scanner = new RowScanner();
  /** The digest stage every data block's digest writes into, one block after another. */
  get stage(): Uint8Array {
    return this.#scanner.stage;
  }

  /** Resolves once the parser has read what it can of the queue and waits for more (or gave up). */
  push(chunk: Uint8Array): Promise<void> {
    if (this.#abandoned) return Promise.resolve();
    this.#chunks.push(chunk);
    this.queued += chunk.length;
    const idle = new Promise<void>((resolve) => (this.#idle = resolve));
    this.#wake?.();
    return idle;
  }

  /** Copies the unread bytes out of the chunks they sit in (a partial row or header: a few bytes, as a rule). */
  compact(): void {
    if (this.#chunks.length === 0) return;
    const rest = new Uint8Array(this.queued);
    let at = 0;
    for (const [i, c] of this.#chunks.entries()) {
      const part = i === 0 ? c.subarray(this.#offset) : c;
      rest.set(part, at);
      at += part.length;
    }
    this.#chunks = this.queued > 0 ? [rest] : [];
    this.#offset = 0;
    this.#scanner.forget();
  }

  #becomeIdle(): void {
    const idle = this.#idle;
    this.#idle = null;
    idle?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /** Resolves true once `n` bytes are queued, false if the input ended first. */
  async #have(n: number): Promise<boolean> {
    while (this.queued < n) {
      if (this.#ended) return false;
      const more = new Promise<void>((resolve) => (this.#wake = resolve));
      this.#becomeIdle();
      await more;
      this.#wake = null;
    }
    return true;
  }

  /** Hands what the first chunk holds, up to `max` bytes, to `visit` and drops it; returns how many bytes that was. */
  #step(max: number, visit?: (bytes: Uint8Array) => void): number {
    const head = this.#chunks[0];
    const count = Math.min(max, head.length - this.#offset);
    visit?.(head.subarray(this.#offset, this.#offset + count));
    this.#offset += count;
    this.queued -= count;
    if (this.#offset === head.length) this.#dropHead();
    return count;
  }

  /** Hands up to `n` bytes to `visit` as they come, without copying; false if the input ended first. */
  async take(n: number, visit?: (bytes: Uint8Array) => void): Promise<boolean> {
    for (let left = n; left > 0; ) {
      if (!(await this.#have(1))) return false;
      left -= this.#step(left, visit);
    }
    return true;
  }

  /**
   * `take` without waiting: false (and nothing consumed) unless all `n` bytes are already queued.
   * pg_dump writes one length-prefixed chunk per COPY row, so the hot path must not await per row.
   */
  takeSync(n: number, visit?: (bytes: Uint8Array) => void): boolean {
    if (this.queued < n) return false;
    for (let left = n; left > 0; ) left -= this.#step(left, visit);
    return true;
  }

  /**
   * The hot loop of a data block: takes every whole (length, bytes) piece of the queued chunks
   * through the row scanner (row-scan.ts), which counts newlines and stages the bytes for the
   * digest with no JavaScript per row (pg_dump writes one piece per COPY row). Stops at the block's
   * end (length 0) or where a piece crosses chunks; that piece takes the slow path.
   */
  scanRows(intSize: number, st: RowScan): void {
    const d = st.digest;
    const sc = this.#scanner;
    while (this.#chunks.length > 0) {
      const head = this.#chunks[0];
      const o = this.#offset;
      const status = sc.scan(head, o, intSize, d.w);
      d.w = sc.w;
      st.lines += sc.lines;
      st.size += sc.bytes;
      if (sc.pieceStart >= 0) keepTail(st, head, sc.pieceStart, sc.lastEnd);
      this.#offset = sc.offset;
      this.queued -= sc.offset - o;
      if (status === SCAN_STAGE_FULL && !d.room(sc.pieceLen)) this.#bigPiece(head, intSize, sc.pieceLen, st);
      const exhausted = this.#offset === head.length;
      if (exhausted) this.#dropHead();
      if (status === SCAN_BLOCK_END) {
        st.done = true;
        break;
      }
      if ((status === SCAN_MORE || status === SCAN_NEGATIVE) && !exhausted) break;
    }
  }

  /** A piece longer than the digest stage, whole in the head chunk: hashed from where it lies. */
  #bigPiece(head: Uint8Array, intSize: number, len: number, st: RowScan): void {
    const o = this.#offset;
    const start = o + 1 + intSize;
    const end = start + len;
    for (let at = head.indexOf(NEWLINE, start); at !== -1 && at < end; at = head.indexOf(NEWLINE, at + 1)) st.lines++;
    st.digest.add(head.subarray(start, end));
    st.size += len;
    keepTail(st, head, start, end);
    this.#offset = end;
    this.queued -= end - o;
  }

  #dropHead(): void {
    this.#chunks.shift();
    this.#offset = 0;
    this.#scanner.forget();
  }

  /** pg_dump's int (sign byte, then `size` bytes little-endian) when all of it is queued; undefined otherwise. */
  intSync(size: number): number | undefined {
    const head = this.#chunks[0];
    if (head && head.length - this.#offset >= 1 + size) {
      // The common case, without a copy: the whole int sits in the first chunk.
      const o = this.#offset;
      let v = 0;
      for (let i = size; i >= 1; i--) v = v * 256 + head[o + i];
      this.#offset += 1 + size;
      this.queued -= 1 + size;
      if (this.#offset === head.length) this.#dropHead();
      return head[o] ? -v : v;
    }
    if (this.queued < 1 + size) return undefined;
    const b = new Uint8Array(1 + size);
    let at = 0;
    this.takeSync(1 + size, (x) => (b.set(x, at), (at += x.length)));
    let v = 0;
    for (let i = size; i >= 1; i--) v = v * 256 + b[i];
    return b[0] ? -v : v;
  }

  async read(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let at = 0;
    if (!(await this.take(n, (b) => (out.set(b, at), (at += b.length))))) throw truncated();
    return out;
  }

  /** Lets the writer go on when the parser gave up: it must never hold the backup back. */
  abandon(): void {
    this.#abandoned = true;
    this.#chunks = [];
    this.queued = 0;
    this.#scanner.forget();
    this.#becomeIdle();
  }
}

/** Progress through one data block; `tail` holds its final bytes (where the end marker sits). */
export interface RowScan {
  lines: number;
  size: number;
  done: boolean;
  /** The last TAIL_KEEP_BYTES of the block's last piece, copied (pg_dump writes its end marker as a piece of its own). */
  tail: Uint8Array;
  /** `tail` is that whole piece. */
  tailWhole: boolean;
  /** The block's content digest (rows are staged into it by the scan loop). */
  digest: BlockDigest;
}

/** Records the block's last piece so far, piece = bytes[start, end), by copying its end: nothing may point into a chunk. */
export function keepTail(st: RowScan, bytes: Uint8Array, start: number, end: number): void {
  st.tail = bytes.slice(Math.max(start, end - TAIL_KEEP_BYTES), end);
  st.tailWhole = end - start <= TAIL_KEEP_BYTES;
}

export const truncated = () => new PgsealError("DUMP_INVALID", "the pg_dump archive ended in the middle of an entry");
