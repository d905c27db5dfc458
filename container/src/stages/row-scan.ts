// The dump inventory's row scan in SIMD WebAssembly: counts COPY rows and stages their bytes for the digest, one input chunk at a time.
import { STAGE_BYTES } from "./copy-digest.ts";
import { ROW_SCAN_WASM_BASE64 } from "./row-scan-wasm.ts";

/**
 * Why WebAssembly: pg_dump writes one length-prefixed piece per COPY row (~100 bytes in a typical
 * table), and the inventory must count every row's newlines and copy its bytes out of the framing
 * for the digest. In JavaScript that byte loop cost ~0.7 CPU-s per GB on the pipeline's one
 * critical thread (docs/PERFORMANCE.md); here it runs 16 bytes at a time.
 */

const STAGE_BASE = 0;
const INPUT_BASE = 128 * 1024;
/** The most input one scan sees; a larger chunk is scanned in windows of this size. */
const WINDOW_BYTES = 2 * 1024 * 1024;

export const SCAN_MORE = 0;
export const SCAN_BLOCK_END = 1;
export const SCAN_STAGE_FULL = 2;
export const SCAN_NEGATIVE = 3;
/** Not from the module: the window ended inside the chunk, so the caller should just scan again. */
export const SCAN_WINDOW_END = 4;

interface RowScanExports {
  memory: WebAssembly.Memory;
  scan(input: number, offset: number, end: number, intSize: number, stage: number, w: number, cap: number): number;
  o: WebAssembly.Global<"i32">;
  w: WebAssembly.Global<"i32">;
  lines: WebAssembly.Global<"i32">;
  size: WebAssembly.Global<"i32">;
  pieceStart: WebAssembly.Global<"i32">;
  lastEnd: WebAssembly.Global<"i32">;
  pieceLen: WebAssembly.Global<"i32">;
}

let compiled: WebAssembly.Module | undefined;

/**
 * One scanner per inventory: its memory holds the digest stage (`stage`, shared by the blocks one
 * after another) and a copy of the chunk being scanned. Results of the last `scan` are its fields.
 */
export class RowScanner {
  readonly stage: Uint8Array;
  readonly #x: RowScanExports;
  readonly #window: Uint8Array;
  #chunk: Uint8Array | null = null;
  #windowStart = 0;
  #windowEnd = 0;
  /** After the last scan: the chunk offset it stopped at, rows' newlines and bytes it took, the stage's fill. */
  offset = 0;
  lines = 0;
  bytes = 0;
  w = 0;
  /** The last piece it took, as chunk offsets; pieceStart is -1 if it took none. */
  pieceStart = -1;
  lastEnd = 0;
  /** With SCAN_STAGE_FULL: the length of the piece that did not fit. */
  pieceLen = 0;

  constructor() {
    compiled ??= new WebAssembly.Module(Buffer.from(ROW_SCAN_WASM_BASE64, "base64"));
    this.#x = new WebAssembly.Instance(compiled, {}).exports as unknown as RowScanExports;
    // The memory never grows, so these views stay valid for the scanner's life.
    this.stage = new Uint8Array(this.#x.memory.buffer, STAGE_BASE, STAGE_BYTES);
    this.#window = new Uint8Array(this.#x.memory.buffer, INPUT_BASE, WINDOW_BYTES);
  }

  /**
   * Takes the whole pieces of `chunk` from `offset` on, staging their bytes at `stage[w]`, and says
   * why it stopped (SCAN_*). The chunk is copied in once and reused while the caller scans it again.
   */
  scan(chunk: Uint8Array, offset: number, intSize: number, w: number): number {
    if (chunk !== this.#chunk || offset < this.#windowStart || offset >= this.#windowEnd) this.#load(chunk, offset);
    const x = this.#x;
    const base = this.#windowStart;
    const status = x.scan(INPUT_BASE, offset - base, this.#windowEnd - base, intSize, STAGE_BASE, w, STAGE_BYTES);
    this.offset = x.o.value + base;
    this.lines = x.lines.value;
    this.bytes = x.size.value;
    this.w = x.w.value;
    const start = x.pieceStart.value;
    this.pieceStart = start < 0 ? -1 : start + base;
    this.lastEnd = x.lastEnd.value + base;
    this.pieceLen = x.pieceLen.value;
    // A piece cut by the window's end but not by the chunk's: move the window to it, unless it
    // starts the window already (a piece larger than the window: the caller's slow path takes it).
    if (status === SCAN_MORE && this.#windowEnd < chunk.length && this.offset > this.#windowStart) {
      this.#chunk = null;
      return SCAN_WINDOW_END;
    }
    return status;
  }

  /** The chunk scanned last is done with: its buffer may be reused for other bytes. */
  forget(): void {
    this.#chunk = null;
  }

  #load(chunk: Uint8Array, offset: number): void {
    const end = Math.min(chunk.length, offset + WINDOW_BYTES);
    this.#window.set(chunk.subarray(offset, end));
    this.#chunk = chunk;
    this.#windowStart = offset;
    this.#windowEnd = end;
  }
}
