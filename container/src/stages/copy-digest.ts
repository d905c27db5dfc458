// Content digests of a dump, shared by the dump inventory (what pg_dump wrote) and the drill (what the restore holds): one definition, two readers.
import { toHex } from "../../../src/shared/bytes.ts";
import type { IncrementalHash } from "../../../src/shared/hash.ts";
import { nodeHashing } from "../node-hash.ts";

/**
 * Names the digest definition; a later change (another hash, another text form) gets a new name,
 * and a drill compares only digests of the name it computes.
 */
export const CONTENT_DIGEST = "sha256-copy-text-v1";

/** Bytes gathered before one native hash call: rows are copied here by the row scan (row-scan.ts) that pg_dump's framing forces anyway. */
export const STAGE_BYTES = 64 * 1024;
/** The block's last bytes always stay staged: its end-of-data marker is dropped from the digest once the block ends. */
const TAIL_BYTES = 64;

/**
 * sha256 of one table's COPY text, without pg_dump's per-row framing and without the end marker.
 * Rows go into `buf` (the row scan writes them in place after `room`) or through `add`; the hash
 * reads each staged run synchronously (node:crypto), so the buffer is reused at once. `buf` may be
 * the row scanner's stage (STAGE_BYTES long), shared by digests that run one after another.
 */
export class BlockDigest {
  readonly buf: Uint8Array;
  w = 0;
  readonly #hash: IncrementalHash = nodeHashing.sha256();
  constructor(buf: Uint8Array = new Uint8Array(STAGE_BYTES)) {
    this.buf = buf;
  }

  /** True when `n` more bytes fit in `buf` at `w` (hashing what is staged to make room, except its tail). */
  room(n: number): boolean {
    if (this.w + n <= STAGE_BYTES) return true;
    const keep = Math.min(this.w, TAIL_BYTES);
    this.#hash.update(this.buf.subarray(0, this.w - keep));
    this.buf.copyWithin(0, this.w - keep, this.w);
    this.w = keep;
    return this.w + n <= STAGE_BYTES;
  }

  add(bytes: Uint8Array): void {
    if (this.room(bytes.length)) {
      this.buf.set(bytes, this.w);
      this.w += bytes.length;
      return;
    }
    // Longer than the stage: everything staged, then all of it but its tail, goes to the hash now.
    this.#hash.update(this.buf.subarray(0, this.w));
    const cut = bytes.length - TAIL_BYTES;
    this.#hash.update(bytes.subarray(0, cut));
    this.buf.set(bytes.subarray(cut), 0);
    this.w = TAIL_BYTES;
  }

  /** The hex digest of everything added except its last `drop` bytes (the end marker, at most TAIL_BYTES). */
  finish(drop: number): string {
    this.#hash.update(this.buf.subarray(0, Math.max(0, this.w - drop)));
    return toHex(this.#hash.digest() as Uint8Array);
  }
}

/** sha256 of bytes that arrive as views the hash may read at once (a large object's pieces). */
export class PlainDigest {
  bytes = 0;
  readonly #hash: IncrementalHash = nodeHashing.sha256();
  add(bytes: Uint8Array): void {
    this.#hash.update(bytes);
    this.bytes += bytes.length;
  }
  finish(): string {
    return toHex(this.#hash.digest() as Uint8Array);
  }
}

/**
 * Newlines that belong to the end-of-data marker: a "\\." line ending the block's last piece, plus
 * blank lines after it. `tail` is the piece's end; `whole`: it is the whole piece (so its first
 * byte is the start of a line).
 */
export function terminatorLines(tail: Uint8Array, whole = true): number {
  let n = 0;
  while (n < tail.length && tail[tail.length - 1 - n] === 0x0a) n++;
  const dot = tail.length - n - 1;
  if (n === 0 || dot < 1 || tail[dot] !== 0x2e || tail[dot - 1] !== 0x5c) return 0;
  // The marker must be a whole line: at the start of the piece, or after a newline.
  return dot === 1 ? (whole ? n : 0) : tail[dot - 2] === 0x0a ? n : 0;
}

export interface LargeObjectDigest {
  oid: number;
  bytes: number;
  sha256: string;
}

/**
 * All large objects as one digest: each object's own sha256, in oid order (pg_dump groups objects
 * by owner and ACL since PostgreSQL 17, so archive order is not oid order), with its oid and size.
 */
export function combineLargeObjects(objects: LargeObjectDigest[]): { sha256: string; bytes: number; count: number } {
  const h = nodeHashing.sha256();
  const enc = new TextEncoder();
  let bytes = 0;
  for (const o of [...objects].sort((a, b) => a.oid - b.oid)) {
    h.update(enc.encode(`${o.oid} ${o.bytes} ${o.sha256}\n`));
    bytes += o.bytes;
  }
  return { sha256: toHex(h.digest() as Uint8Array), bytes, count: objects.length };
}

const IDENT = String.raw`(?:"(?:[^"]|"")*"|[^\s".(),]+)`;
const COPY_RE = new RegExp(String.raw`^COPY ${IDENT}(?:\.${IDENT})? (\((?:${IDENT}(?:, ${IDENT})*)?\))? ?FROM stdin;\n*$`);

/**
 * The column list of pg_dump's `COPY name (a, b) FROM stdin;` statement, as pg_dump quoted it
 * ("" for a table without columns); null when the statement is not of that shape. The drill reads
 * the same columns in the same order back (a restored inheritance child may order them otherwise).
 */
export function copyColumns(copyStmt: string): string | null {
  const m = COPY_RE.exec(copyStmt);
  return m ? (m[1] ?? "") : null;
}
