// The WebAssembly row scan: its embedded bytes are its source assembled, and it counts and stages every piece exactly as the plain definition says.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RowScanner, SCAN_BLOCK_END, SCAN_MORE, SCAN_NEGATIVE, SCAN_STAGE_FULL, SCAN_WINDOW_END } from "../container/src/stages/row-scan.ts";
import { assembleRowScan, generatedSource } from "../scripts/build-wasm.ts";
import { readFileSync } from "node:fs";
import { concatBytes } from "../src/shared/bytes.ts";

/** pg_dump's framing: a sign byte, a 4-byte little-endian length, the bytes; a zero length ends the block. */
function frame(pieces: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const p of [...pieces, new Uint8Array(0)]) {
    const h = new Uint8Array(5);
    new DataView(h.buffer).setUint32(1, p.length, true);
    parts.push(h, p);
  }
  return concatBytes(parts);
}

/** Scans one chunk to the block's end, emptying the stage whenever it is full, as the inventory does. */
function scanAll(chunk: Uint8Array): { lines: number; staged: Uint8Array; status: number } {
  const sc = new RowScanner();
  const out: Uint8Array[] = [];
  let lines = 0;
  let w = 0;
  for (let o = 0; ; ) {
    const status = sc.scan(chunk, o, 4, w);
    lines += sc.lines;
    w = sc.w;
    o = sc.offset;
    if (status === SCAN_WINDOW_END) continue;
    if (status === SCAN_STAGE_FULL) {
      out.push(sc.stage.slice(0, w));
      w = 0;
      continue;
    }
    out.push(sc.stage.slice(0, w));
    return { lines, staged: concatBytes(out), status };
  }
}

const newlines = (b: Uint8Array) => b.reduce((n, x) => n + (x === 0x0a ? 1 : 0), 0);

describe("the row scan module", () => {
  it("embeds exactly the bytes that row-scan.wat assembles to", async () => {
    const embedded = readFileSync(new URL("../container/src/stages/row-scan-wasm.ts", import.meta.url), "utf8");
    expect(embedded).toBe(generatedSource(await assembleRowScan()));
  });
});

describe("scanning pieces", () => {
  it("counts every newline and stages every byte of every piece, whatever the piece lengths and contents", () => {
    // Bytes drawn from a small alphabet so that newlines are common and fall in every lane of a vector.
    const piece = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => b.map((x) => [0x0a, 0x5c, 0x2e, 0x41, x][x % 5]));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), (pieces) => {
        const { lines, staged, status } = scanAll(frame(pieces));
        const all = concatBytes(pieces);
        expect(status).toBe(SCAN_BLOCK_END);
        expect(lines).toBe(newlines(all));
        expect(staged).toEqual(all);
      }),
      { numRuns: 300 },
    );
  });

  it("stops before a piece that runs past the chunk, and says where, without taking any of it", () => {
    const framed = frame([new TextEncoder().encode("1\tone\n"), new TextEncoder().encode("2\ttwo\n")]);
    const sc = new RowScanner();
    const cut = framed.subarray(0, 5 + 6 + 5 + 3);
    expect(sc.scan(cut, 0, 4, 0)).toBe(SCAN_MORE);
    expect([sc.offset, sc.lines, sc.bytes, sc.pieceStart, sc.lastEnd]).toEqual([11, 1, 6, 5, 11]);
    // A header cut in half stops the scan the same way.
    expect(sc.scan(framed.subarray(0, 13), 0, 4, 0)).toBe(SCAN_MORE);
    expect(sc.offset).toBe(11);
  });

  it("reports a piece too long for the stage and a negative length without consuming them", () => {
    const sc = new RowScanner();
    const long = frame([new Uint8Array(70_000).fill(0x0a)]);
    expect(sc.scan(long, 0, 4, 0)).toBe(SCAN_STAGE_FULL);
    expect([sc.offset, sc.pieceLen, sc.lines]).toEqual([0, 70_000, 0]);
    const negative = frame([new Uint8Array(3)]);
    negative[0] = 1;
    expect(sc.scan(negative, 0, 4, 0)).toBe(SCAN_NEGATIVE);
    expect(sc.offset).toBe(0);
  });

  it("scans a chunk larger than its window in windows, as one", () => {
    // 40,000 rows of 100 bytes: 4 MB, twice the window, with pieces crossing each window's end.
    const row = new Uint8Array(100).fill(0x78);
    row[99] = 0x0a;
    const pieces = Array.from({ length: 40_000 }, () => row);
    const { lines, staged, status } = scanAll(frame(pieces));
    expect(status).toBe(SCAN_BLOCK_END);
    expect(lines).toBe(40_000);
    expect(staged.length).toBe(4_000_000);
  });
});
