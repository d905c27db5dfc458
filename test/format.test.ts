// The v1 artifact format: round trips, the committed golden vectors, and one error code per kind of damage.
import { execFileSync, spawnSync } from "node:child_process";
import { createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { concatBytes, equalBytes, fromHex, toHex } from "../src/shared/bytes.ts";
import { PgsealError } from "../src/shared/errors.ts";
import * as F from "../src/shared/format/format.ts";
import { generateKey, parseKeyring, type Keyring } from "../src/shared/format/keyring.ts";
import { ChunkPool } from "../src/shared/pipeline/chunk-pool.ts";
import { VECTOR_KEYRING, VECTOR_NONCE_PREFIX, VECTOR_SALT, VECTOR_SEGMENT_BYTES } from "./vectors/vector-inputs.ts";

const { createDecryptStream, createEncryptStream, encryptedSize, readHeader } = F;
const VECTORS_URL = new URL("./vectors/format-v1.json", import.meta.url);
const VECTORS = JSON.parse(readFileSync(VECTORS_URL, "utf8")) as { key: string; vectors: { name: string; plaintext: string; ciphertext: string }[] };
const vector = (name: string) => VECTORS.vectors.find((v) => v.name === name)!;
const vectorKeyring = parseKeyring(VECTOR_KEYRING);
const MiB = 1_048_576;

/** Deterministic pseudo-random chunk sizes in 0..max (0 = an empty chunk, which must be harmless). */
const seeded =
  (seed: number, max = 5000) =>
  () =>
    (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % (max + 1);

function chunked(bytes: Uint8Array, sizes: () => number): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= bytes.length) return c.close();
      const n = sizes();
      c.enqueue(bytes.slice(o, (o += n)));
    },
  });
}

async function run(input: ReadableStream<Uint8Array>, t: TransformStream<Uint8Array, Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of input.pipeThrough(t)) parts.push(c);
  return concatBytes(parts);
}

const encrypt = (pt: Uint8Array, ring: Keyring, segmentSize?: number, chunk = () => 4096) => run(chunked(pt, chunk), createEncryptStream(ring, { segmentSize }));
const decrypt = (ct: Uint8Array, ring: Keyring, chunk = () => 4096) => run(chunked(ct, chunk), createDecryptStream(ring));

/** Decrypts expecting failure; `emitted` is the plaintext a consumer saw before the error. */
async function failure(ct: Uint8Array, ring: Keyring = vectorKeyring, chunk = () => 7): Promise<{ code: string; message: string; emitted: Uint8Array }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const c of chunked(ct, chunk).pipeThrough(createDecryptStream(ring))) parts.push(c);
  } catch (e) {
    expect(e).toBeInstanceOf(PgsealError);
    return { code: (e as PgsealError).code, message: (e as PgsealError).message, emitted: concatBytes(parts) };
  }
  return { code: "NO_ERROR", message: "", emitted: concatBytes(parts) };
}

describe("format v1 round trip", () => {
  const ring = parseKeyring(generateKey("rt").entry);
  const cases: [number, number | undefined][] = [
    [0, 64],
    [1, 64],
    [63, 64],
    [64, 64],
    [65, 64],
    [128, 64],
    [129, 64],
    [64 * 5 + 3, 64],
    [MiB - 1, undefined],
    [MiB, undefined],
    [MiB + 1, undefined],
    [3 * MiB + 5, undefined],
  ];
  for (const [size, seg] of cases) {
    it(`decrypts ${size} bytes (segment size ${seg ?? "default"}) to exactly the input, whatever the chunking`, async () => {
      const pt = new Uint8Array(randomBytes(size));
      const ct = await encrypt(pt, ring, seg, seeded(size + 1, size < 1000 ? 70 : 300_000));
      expect(ct.length).toBe(encryptedSize(size, seg ?? F.DEFAULT_SEGMENT_BYTES, 2));
      expect(equalBytes(await decrypt(ct, ring, seeded(size + 2, size < 1000 ? 70 : 300_000)), pt)).toBe(true);
      if (size < 1000) expect(equalBytes(await decrypt(ct, ring, () => 1), pt)).toBe(true);
    });
  }

  it("refuses a record pool whose buffers do not fit the segment size", () => {
    const pool = new ChunkPool({ chunkBytes: F.sealedRecordBytes(1024) - 1, holders: 1 });
    expect(() => createEncryptStream(parseKeyring(generateKey("p").entry), { segmentSize: 1024, records: pool })).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
  });

  it("round-trips with the largest allowed segment size and rejects sizes outside 64 B..16 MiB", async () => {
    const pt = new Uint8Array(randomBytes(F.MAX_SEGMENT_BYTES + 1));
    const ct = await encrypt(pt, ring, F.MAX_SEGMENT_BYTES, () => MiB);
    expect(readHeader(ct).segmentSize).toBe(F.MAX_SEGMENT_BYTES);
    expect(equalBytes(await decrypt(ct, ring, () => 3 * MiB), pt)).toBe(true);
    for (const bad of [63, F.MAX_SEGMENT_BYTES + 1, 100.5, 0]) {
      expect(() => createEncryptStream(ring, { segmentSize: bad })).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
    }
  });

  it("uses a fresh salt and nonce prefix for every artifact, so equal inputs never give equal ciphertexts", async () => {
    const pt = new Uint8Array(100);
    const [a, b] = await Promise.all([encrypt(pt, ring, 64), encrypt(pt, ring, 64)]);
    expect(equalBytes(a, b)).toBe(false);
    expect(toHex(readHeader(a).salt)).not.toBe(toHex(readHeader(b).salt));
    expect(toHex(readHeader(a).noncePrefix)).not.toBe(toHex(readHeader(b).noncePrefix));
  });

  it("frames full segments as non-final records of exactly the segment size and ends with one final record", async () => {
    const ct = await encrypt(new Uint8Array(128), ring, 64, () => 1);
    const words: number[] = [];
    const view = new DataView(ct.buffer, ct.byteOffset);
    for (let o = readHeader(ct).headerLength; o < ct.length; o += 4 + (view.getUint32(o) & 0x7fffffff) + 16) words.push(view.getUint32(o));
    expect(words).toEqual([64, 0x8000_0000 + 64]);
  });

  it("computes the exact encrypted size for every plaintext size from 0 to 300 bytes", async () => {
    for (let n = 0; n <= 300; n++) expect((await encrypt(new Uint8Array(n), ring, 64)).length, `${n} bytes`).toBe(encryptedSize(n, 64, 2));
    expect(encryptedSize(0, F.DEFAULT_SEGMENT_BYTES, 32)).toBe(F.MAX_HEADER_BYTES + 4 + 16);
    expect(encryptedSize(F.MAX_SEGMENTS * 64, 64, 1)).toBe(F.MIN_HEADER_BYTES + F.MAX_SEGMENTS * (64 + 20));
    expect(() => encryptedSize(F.MAX_SEGMENTS * 64 + 1, 64, 1)).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
    expect(() => encryptedSize(10, 64, 33)).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
  });

  it("emits encrypted records while the input is still open, so memory does not grow with the input", { timeout: 10_000 }, async () => {
    const enc = createEncryptStream(ring, { segmentSize: 64 });
    const writer = enc.writable.getWriter();
    const reader = enc.readable.getReader();
    void writer.write(new Uint8Array(64 * 10));
    const header = (await reader.read()).value!;
    expect(header.length).toBe(readHeader(header).headerLength);
    // At most two segments are held back: the unsealed last one and the one being encrypted.
    let seen = 0;
    while (seen < 8 * 84) seen += (await reader.read()).value!.length;
    void writer.close();
    while (!(await reader.read()).done);
  });

  it("releases decrypted segments while the artifact is still arriving", { timeout: 10_000 }, async () => {
    const pt = new Uint8Array(randomBytes(64 * 10));
    const ct = await encrypt(pt, ring, 64);
    const dec = createDecryptStream(ring);
    const writer = dec.writable.getWriter();
    const reader = dec.readable.getReader();
    void writer.write(ct.slice(0, ct.length - 1));
    // 9 complete records have arrived; the newest one's plaintext may wait for the next record.
    const parts: Uint8Array[] = [];
    while (concatBytes(parts).length < 64 * 8) parts.push((await reader.read()).value!);
    expect(toHex(concatBytes(parts))).toBe(toHex(pt.subarray(0, 64 * 8)));
    void writer.close().catch(() => {});
    // At the end every verified segment is out before the truncation error, and nothing more.
    const error = await (async () => {
      for (;;) {
        try {
          const { value, done } = await reader.read();
          if (done) return undefined;
          parts.push(value);
        } catch (e) {
          return e;
        }
      }
    })();
    expect(error).toMatchObject({ code: "FORMAT_TRUNCATED" });
    expect(toHex(concatBytes(parts))).toBe(toHex(pt.subarray(0, 64 * 9)));
  });
});

describe("golden vectors (test/vectors/format-v1.json)", () => {
  for (const v of VECTORS.vectors) {
    it(`encrypts the '${v.name}' vector to its committed bytes and decrypts it back`, async () => {
      const pt = fromHex(v.plaintext);
      const enc = createEncryptStream(vectorKeyring, { segmentSize: VECTOR_SEGMENT_BYTES, testOnly: { salt: VECTOR_SALT, noncePrefix: VECTOR_NONCE_PREFIX } });
      expect(toHex(await run(chunked(pt, seeded(3, 9)), enc))).toBe(v.ciphertext);
      expect(toHex(await decrypt(fromHex(v.ciphertext), vectorKeyring, () => 1))).toBe(v.plaintext);
    });

    it(`encrypts the '${v.name}' vector to its committed bytes into pooled record buffers, each poisoned and reused once handed back`, async () => {
      const pool = new ChunkPool({ chunkBytes: F.sealedRecordBytes(VECTOR_SEGMENT_BYTES), holders: 1, poison: true });
      const enc = createEncryptStream(vectorKeyring, { segmentSize: VECTOR_SEGMENT_BYTES, records: pool, testOnly: { salt: VECTOR_SALT, noncePrefix: VECTOR_NONCE_PREFIX } });
      const seen: string[] = [];
      for await (const c of chunked(fromHex(v.plaintext), seeded(5, 9)).pipeThrough(enc)) seen.push(toHex(c)), pool.release(c);
      expect(seen.join("")).toBe(v.ciphertext);
      // Every record is written into a pooled buffer; handed back as soon as they are read, two serve them all.
      const records = Math.max(1, Math.ceil(fromHex(v.plaintext).length / VECTOR_SEGMENT_BYTES));
      expect(pool.made + pool.reused).toBe(records);
      expect(pool.made).toBeLessThanOrEqual(2);
    });

    it(`decrypts the '${v.name}' vector with an independent implementation of docs/FORMAT.md (node:crypto)`, () => {
      // Written from the spec, not from format.ts: the document and the code must agree.
      const ct = Buffer.from(v.ciphertext, "hex");
      const key = Buffer.from(VECTORS.key, "hex");
      expect(ct.subarray(0, 7).toString("latin1")).toBe("PGSEAL\x01");
      let o = 8 + ct[7];
      const salt = ct.subarray(o, (o += 32));
      const prefix = ct.subarray(o, (o += 7));
      const seg = ct.readUInt32BE(o);
      o += 4;
      const check = ct.subarray(o, (o += 32));
      const header = ct.subarray(0, o);
      expect(Buffer.from(hkdfSync("sha256", key, salt, "pgseal v1 key check", 32)).equals(check)).toBe(true);
      const aesKey = Buffer.from(hkdfSync("sha256", key, salt, "pgseal v1 aes-256-gcm", 32));
      const out: Buffer[] = [];
      for (let i = 0; ; i++) {
        const word = ct.readUInt32BE(o);
        const final = word >>> 31 === 1;
        const len = word & 0x7fffffff;
        expect(final || len === seg).toBe(true);
        const body = ct.subarray(o + 4, o + 4 + len);
        const tag = ct.subarray(o + 4 + len, o + 4 + len + 16);
        o += 4 + len + 16;
        const nonce = Buffer.alloc(12);
        prefix.copy(nonce);
        nonce.writeUInt32BE(i, 7);
        nonce[11] = final ? 1 : 0;
        const d = createDecipheriv("aes-256-gcm", aesKey, nonce).setAAD(header).setAuthTag(tag);
        out.push(d.update(body), d.final());
        if (final) break;
      }
      expect(o).toBe(ct.length);
      expect(Buffer.concat(out).toString("hex")).toBe(v.plaintext);
    });
  }

  it("are reproduced byte for byte by scripts/gen-vectors.ts, which refuses to overwrite them without --force", () => {
    const dir = mkdtempSync(join(tmpdir(), "pgseal-vectors-"));
    try {
      const script = new URL("../scripts/gen-vectors.ts", import.meta.url).pathname;
      execFileSync(process.execPath, [script, "--out", join(dir, "v.json")], { stdio: "pipe" });
      expect(readFileSync(join(dir, "v.json"), "utf8")).toBe(readFileSync(VECTORS_URL, "utf8"));
      const before = readFileSync(VECTORS_URL);
      const refused = spawnSync(process.execPath, [script], { encoding: "utf8" });
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/never regenerated silently/);
      expect(readFileSync(VECTORS_URL).equals(before)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("readHeader", () => {
  const ct = fromHex(vector("three segments and a partial one").ciphertext);

  it("reads the version, key id, segment size and header length without a key", () => {
    expect(readHeader(ct)).toMatchObject({ version: 1, keyId: "vector", segmentSize: 64, headerLength: 83 + "vector".length });
    expect(readHeader(ct.subarray(0, readHeader(ct).headerLength)).keyId).toBe("vector");
  });

  it("names what is wrong with a header: too short, not an artifact, a newer version", () => {
    expect(() => readHeader(ct.subarray(0, 50))).toThrow(expect.objectContaining({ code: "FORMAT_TRUNCATED" }));
    expect(() => readHeader(new TextEncoder().encode("PGDMP"))).toThrow(expect.objectContaining({ code: "FORMAT_BAD_MAGIC" }));
    const v3 = ct.slice();
    v3[6] = 3;
    expect(() => readHeader(v3)).toThrow(expect.objectContaining({ code: "FORMAT_UNSUPPORTED_VERSION", message: expect.stringMatching(/version 3 is not supported/) }));
  });
});

describe("format v1 damage detection", () => {
  const multiHex = vector("three segments and a partial one");
  const multi = fromHex(multiHex.ciphertext);
  const pt = fromHex(multiHex.plaintext);
  const H = readHeader(multi).headerLength;
  const RECORD = 4 + 64 + 16;
  const segmentOf = (i: number) => Math.floor((i - H) / RECORD);

  /** What the spec says a flipped bit at `i` must produce; a list where several fields interact. */
  function expectedCodes(i: number, damaged: Uint8Array): string[] {
    if (i < 6) return ["FORMAT_BAD_MAGIC"];
    if (i === 6) return ["FORMAT_UNSUPPORTED_VERSION"];
    if (i < 14) return ["FORMAT_BAD_HEADER", "KEY_UNKNOWN_ID"]; // key id length or characters
    if (i < 46 || (i >= 57 && i < H)) return ["KEY_MISMATCH"]; // salt, key check
    if (i < 53) return ["FORMAT_AUTH_FAILED"]; // nonce prefix: authenticated as AAD
    if (i < H) return ["FORMAT_BAD_HEADER"]; // segment size: records no longer match it
    const start = H + segmentOf(i) * RECORD;
    if (i >= start + 4) return ["FORMAT_AUTH_FAILED"];
    const word = new DataView(damaged.buffer).getUint32(start);
    const final = word >>> 31 === 1;
    const len = word & 0x7fffffff;
    if (final ? len > 64 : len !== 64) return ["FORMAT_BAD_HEADER"];
    return damaged.length - start - 4 < len + 16 ? ["FORMAT_TRUNCATED"] : ["FORMAT_AUTH_FAILED"];
  }

  it("rejects every flipped bit at every byte position with the field's code and never releases unverified plaintext", async () => {
    for (let i = 0; i < multi.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = multi.slice();
        bad[i] ^= 1 << bit;
        const r = await failure(bad);
        expect(expectedCodes(i, bad), `byte ${i} bit ${bit}: ${r.message}`).toContain(r.code);
        if (r.code === "FORMAT_AUTH_FAILED") expect(r.message).toContain(`segment ${i < H ? 0 : segmentOf(i)}`);
        // Only whole segments before the damaged one may have been released.
        const limit = i < H ? 0 : segmentOf(i) * 64;
        expect(r.emitted.length % 64 === 0 && r.emitted.length <= limit, `byte ${i} bit ${bit}`).toBe(true);
        expect(toHex(r.emitted)).toBe(toHex(pt.subarray(0, r.emitted.length)));
      }
    }
  });

  it("reports truncation at every byte position of every vector (inside the header, at record boundaries, inside records) as FORMAT_TRUNCATED", async () => {
    for (const v of VECTORS.vectors) {
      const ct = fromHex(v.ciphertext);
      for (let cut = 0; cut < ct.length; cut++) {
        const r = await failure(ct.slice(0, cut), vectorKeyring, () => 5);
        expect(r.code, `'${v.name}' cut at ${cut}`).toBe("FORMAT_TRUNCATED");
        expect(r.emitted.length).toBeLessThan(Math.max(1, v.plaintext.length / 2));
        expect(toHex(r.emitted)).toBe(v.plaintext.slice(0, 2 * r.emitted.length));
      }
    }
    expect((await failure(multi.slice(0, H + 2 * RECORD))).message).toMatch(/ends after 2 segments without a final segment/);
  });

  it("reports swapped, dropped, duplicated and foreign segments as FORMAT_AUTH_FAILED naming the first bad segment", async () => {
    const rec = (ct: Uint8Array, r: number) => ct.subarray(H + r * RECORD, H + (r + 1) * RECORD);
    const head = multi.subarray(0, H);
    const tail = multi.subarray(H + 3 * RECORD);
    const swapped = concatBytes([head, rec(multi, 1), rec(multi, 0), rec(multi, 2), tail]);
    const dropped = concatBytes([head, rec(multi, 0), rec(multi, 2), tail]);
    const duplicated = concatBytes([head, rec(multi, 0), rec(multi, 1), rec(multi, 1), rec(multi, 2), tail]);
    const other = await run(
      chunked(pt, () => 64),
      createEncryptStream(vectorKeyring, { segmentSize: 64 }),
    );
    const foreign = concatBytes([head, rec(multi, 0), rec(other, 1), rec(multi, 2), tail]);
    expect(await failure(swapped)).toMatchObject({ code: "FORMAT_AUTH_FAILED", message: expect.stringContaining("segment 0 ") });
    for (const [bad, first] of [
      [dropped, 1],
      [duplicated, 2],
      [foreign, 1],
    ] as const) {
      expect(await failure(bad)).toMatchObject({ code: "FORMAT_AUTH_FAILED", message: expect.stringContaining(`segment ${first} `) });
    }
  });

  it("reports an artifact cut at a record boundary and re-marked as final as FORMAT_AUTH_FAILED", async () => {
    const bad = multi.slice(0, H + RECORD);
    bad[H] |= 0x80;
    expect((await failure(bad)).code).toBe("FORMAT_AUTH_FAILED");
  });

  it("reports bytes after the final segment as FORMAT_TRAILING_DATA, in one chunk or byte by byte", async () => {
    for (const chunk of [() => 4096, () => 1]) {
      expect((await failure(concatBytes([multi, new Uint8Array([0])]), vectorKeyring, chunk)).code).toBe("FORMAT_TRAILING_DATA");
      expect((await failure(concatBytes([multi, multi.subarray(H)]), vectorKeyring, chunk)).code).toBe("FORMAT_TRAILING_DATA");
    }
    const empty = fromHex(vector("empty").ciphertext);
    expect(await failure(concatBytes([empty, empty]))).toMatchObject({ code: "FORMAT_TRAILING_DATA", message: expect.stringMatching(/unexpected bytes follow the final segment/) });
  });

  it("reports a different key under the same id as KEY_MISMATCH before decrypting anything", async () => {
    const other = parseKeyring(`vector:${Buffer.alloc(32, 7).toString("base64")}`);
    const r = await failure(multi, other);
    expect(r).toMatchObject({ code: "KEY_MISMATCH", message: expect.stringContaining("'vector' is not the key this artifact was encrypted with") });
    expect(r.emitted.length).toBe(0);
  });

  it("reports an unknown key id as KEY_UNKNOWN_ID, naming the artifact's id and the ids the keyring has", async () => {
    const ring = parseKeyring(`${generateKey("a").entry},${generateKey("b").entry}`);
    const r = await failure(multi, ring);
    expect(r.code).toBe("KEY_UNKNOWN_ID");
    expect(r.message).toBe("the artifact was encrypted with key id 'vector' but the keyring has: a, b");
  });

  it("reports a file that is not an artifact as FORMAT_BAD_MAGIC, even when only its first bytes have arrived", async () => {
    expect((await failure(new TextEncoder().encode("PGDMP plain dump"))).code).toBe("FORMAT_BAD_MAGIC");
    expect((await failure(new Uint8Array([0x1f, 0x8b, 8]), vectorKeyring, () => 1)).code).toBe("FORMAT_BAD_MAGIC");
  });

  it("still decrypts the undamaged vector (the damage tests above start from valid bytes)", async () => {
    expect(equalBytes(await decrypt(multi, vectorKeyring), pt)).toBe(true);
  });
});
