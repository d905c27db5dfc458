// The v1 artifact format: round trips, the committed golden vectors, and one error code per kind of damage.
import { createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { concatBytes, equalBytes, fromHex, toHex } from "../src/shared/bytes.ts";
import { createDecryptStream, createEncryptStream, encryptedSize, readHeader } from "../src/shared/format.ts";
import { generateKey, parseKeyring, type Keyring } from "../src/shared/keyring.ts";
import { VECTOR_KEYRING, VECTOR_NONCE_PREFIX, VECTOR_SALT, VECTOR_SEGMENT_BYTES } from "./vectors/vector-inputs.ts";

const VECTORS = JSON.parse(readFileSync(new URL("./vectors/format-v1.json", import.meta.url), "utf8"));
const vectorKeyring = parseKeyring(VECTOR_KEYRING);

function chunked(bytes: Uint8Array, sizes: () => number): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= bytes.length) return c.close();
      const n = Math.max(1, sizes());
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

async function decryptError(ct: Uint8Array, ring: Keyring = vectorKeyring): Promise<{ code: string; message: string; plaintext?: Uint8Array }> {
  try {
    const plaintext = await decrypt(ct, ring);
    return { code: "NO_ERROR", message: "", plaintext };
  } catch (e) {
    return e as { code: string; message: string };
  }
}

const seeded = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 5000) + 1;

describe("format v1 round trip", () => {
  const ring = parseKeyring(generateKey("rt").entry);
  for (const [size, seg] of [[0, 64], [1, 64], [63, 64], [64, 64], [65, 64], [64 * 5, 64], [3 * 1_048_576 + 5, undefined]] as const) {
    it(`decrypts ${size} bytes (segment ${seg ?? "default"}) to exactly the input, whatever the chunking`, async () => {
      const pt = new Uint8Array(randomBytes(size));
      const ct = await encrypt(pt, ring, seg, seeded(size + 1));
      expect(ct.length).toBe(encryptedSize(size, seg ?? 1_048_576, 2));
      expect(equalBytes(await decrypt(ct, ring, seeded(size + 2)), pt)).toBe(true);
      if (size < 1000) expect(equalBytes(await decrypt(ct, ring, () => 1), pt)).toBe(true);
    });
  }

  it("uses a fresh salt and nonce prefix for every artifact, so equal inputs never give equal ciphertexts", async () => {
    const pt = new Uint8Array(100);
    const [a, b] = await Promise.all([encrypt(pt, ring, 64), encrypt(pt, ring, 64)]);
    expect(equalBytes(a, b)).toBe(false);
    expect(readHeader(a).salt).not.toEqual(readHeader(b).salt);
  });
});

describe("golden vectors (test/vectors/format-v1.json)", () => {
  for (const v of VECTORS.vectors) {
    it(`encrypts the '${v.name}' vector to its committed bytes and decrypts it back`, async () => {
      const pt = fromHex(v.plaintext);
      const enc = createEncryptStream(vectorKeyring, { segmentSize: VECTOR_SEGMENT_BYTES, testOnly: { salt: VECTOR_SALT, noncePrefix: VECTOR_NONCE_PREFIX } });
      expect(toHex(await run(chunked(pt, () => 5), enc))).toBe(v.ciphertext);
      expect(toHex(await decrypt(fromHex(v.ciphertext), vectorKeyring, () => 3))).toBe(v.plaintext);
    });

    it(`decrypts the '${v.name}' vector with an independent implementation of docs/FORMAT.md (node:crypto)`, () => {
      // Written from the spec, not from format.ts: the document and the code must agree.
      const ct = Buffer.from(v.ciphertext, "hex");
      const key = Buffer.from(VECTORS.key, "hex");
      expect(ct.subarray(0, 7).toString("latin1")).toBe("PGSEAL\x01");
      const idLen = ct[7];
      let o = 8 + idLen;
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
        const nonce = Buffer.concat([prefix, Buffer.from([i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255, final ? 1 : 0])]);
        const d = createDecipheriv("aes-256-gcm", aesKey, nonce).setAAD(header).setAuthTag(tag);
        out.push(d.update(body), d.final());
        if (final) break;
      }
      expect(o).toBe(ct.length);
      expect(Buffer.concat(out).toString("hex")).toBe(v.plaintext);
    });
  }
});

describe("format v1 damage detection", () => {
  const multi = fromHex(VECTORS.vectors.find((v: { name: string }) => v.name === "three segments and a partial one").ciphertext);
  const pt = fromHex(VECTORS.vectors.find((v: { name: string }) => v.name === "three segments and a partial one").plaintext);
  const headerLen = readHeader(multi).headerLength;
  const recordLen = 4 + 64 + 16;

  it("rejects a flipped bit at every byte position and never returns the plaintext", async () => {
    const codes = new Set<string>();
    for (let i = 0; i < multi.length; i++) {
      const bad = multi.slice();
      bad[i] ^= 0x04;
      const r = await decryptError(bad);
      expect(r.code, `byte ${i}`).toMatch(/^(FORMAT_|KEY_)/);
      expect(r.plaintext).toBeUndefined();
      codes.add(r.code);
    }
    // A length word that grows past the end of the data reads as truncation: also a correct diagnosis.
    expect([...codes].sort()).toEqual(
      ["FORMAT_AUTH_FAILED", "FORMAT_BAD_HEADER", "FORMAT_BAD_MAGIC", "FORMAT_TRUNCATED", "FORMAT_UNSUPPORTED_VERSION", "KEY_MISMATCH", "KEY_UNKNOWN_ID"].sort(),
    );
  });

  it("names the damaged field: magic → FORMAT_BAD_MAGIC, version → FORMAT_UNSUPPORTED_VERSION, key id → KEY_UNKNOWN_ID", async () => {
    const at = (i: number) => {
      const b = multi.slice();
      b[i] ^= 0x01;
      return b;
    };
    expect((await decryptError(at(0))).code).toBe("FORMAT_BAD_MAGIC");
    expect((await decryptError(at(6))).code).toBe("FORMAT_UNSUPPORTED_VERSION");
    expect((await decryptError(at(8))).code).toBe("KEY_UNKNOWN_ID");
    expect((await decryptError(at(headerLen + 4 + 10))).code).toBe("FORMAT_AUTH_FAILED");
  });

  it("reports truncation inside the header, at every record boundary and inside records as FORMAT_TRUNCATED", async () => {
    const cuts = [3, 10, headerLen - 1, headerLen, headerLen + 2, headerLen + 50];
    for (let r = 1; r <= 3; r++) cuts.push(headerLen + r * recordLen, headerLen + r * recordLen + 1, headerLen + r * recordLen - 1);
    cuts.push(multi.length - 1);
    for (const cut of cuts) expect((await decryptError(multi.slice(0, cut))).code, `cut at ${cut}`).toBe("FORMAT_TRUNCATED");
    expect((await decryptError(new Uint8Array(0))).code).toBe("FORMAT_TRUNCATED");
  });

  it("reports two swapped segments as FORMAT_AUTH_FAILED", async () => {
    const bad = multi.slice();
    bad.set(multi.subarray(headerLen, headerLen + recordLen), headerLen + recordLen);
    bad.set(multi.subarray(headerLen + recordLen, headerLen + 2 * recordLen), headerLen);
    const r = await decryptError(bad);
    expect(r.code).toBe("FORMAT_AUTH_FAILED");
    expect(r.message).toMatch(/segment 0/);
  });

  it("reports bytes after the final segment as FORMAT_TRAILING_DATA", async () => {
    expect((await decryptError(concatBytes([multi, new Uint8Array([0])]))).code).toBe("FORMAT_TRAILING_DATA");
    expect((await decryptError(concatBytes([multi, multi.subarray(headerLen)]))).code).toBe("FORMAT_TRAILING_DATA");
  });

  it("reports a different key under the same id as KEY_MISMATCH", async () => {
    const other = parseKeyring(`vector:${Buffer.alloc(32, 7).toString("base64")}`);
    const r = await decryptError(multi, other);
    expect(r.code).toBe("KEY_MISMATCH");
  });

  it("reports an unknown key id as KEY_UNKNOWN_ID, listing the ids the keyring has", async () => {
    const r = await decryptError(multi, parseKeyring(generateKey("only-this").entry));
    expect(r.code).toBe("KEY_UNKNOWN_ID");
    expect(r.message).toContain("'vector'");
    expect(r.message).toContain("only-this");
  });

  it("reports a file that is not an artifact as FORMAT_BAD_MAGIC", async () => {
    expect((await decryptError(new TextEncoder().encode("PGDMP plain dump"))).code).toBe("FORMAT_BAD_MAGIC");
  });

  it("still decrypts the undamaged vector (the damage tests above start from valid bytes)", async () => {
    expect(equalBytes(await decrypt(multi, vectorKeyring), pt)).toBe(true);
  });
});

describe("keyring", () => {
  it("encrypts with the last key and decrypts artifacts made with earlier keys after rotation", async () => {
    const old = generateKey("old").entry;
    const oldRing = parseKeyring(old);
    const ct = await encrypt(new Uint8Array([1, 2, 3]), oldRing, 64);
    const rotated = parseKeyring(`${old},\n${generateKey("new").entry}`);
    expect(rotated.active.id).toBe("new");
    expect(readHeader(await encrypt(new Uint8Array(1), rotated, 64)).keyId).toBe("new");
    expect([...(await decrypt(ct, rotated))]).toEqual([1, 2, 3]);
  });

  it("rejects bad entries by position and id without echoing key material", () => {
    const good = generateKey("a").entry;
    const secretish = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"; // 30 bytes
    const cases: [string, RegExp][] = [
      ["", /keyring is empty/],
      [`${good},b:${secretish}`, /entry 2 \(id 'b'\) is 30 bytes/],
      [`${good},${good}`, /repeats key id 'a'/],
      [`:${secretish}`, /entry 1 has no valid key id/],
      [`c:not*base64`, /entry 1 \(id 'c'\) is not valid base64/],
    ];
    for (const [text, re] of cases) {
      let err: Error & { code?: string } = new Error("none");
      try {
        parseKeyring(text);
      } catch (e) {
        err = e as Error;
      }
      expect(err.code).toBe("KEY_INVALID");
      expect(err.message).toMatch(re);
      expect(err.message).not.toContain(secretish);
      expect(err.message).not.toContain(good.split(":")[1]);
    }
  });

  it("does not reveal key bytes through JSON.stringify or util.inspect", async () => {
    const entry = generateKey("hidden").entry;
    const ring = parseKeyring(entry);
    const { inspect } = await import("node:util");
    expect(JSON.stringify({ ring })).toBe('{"ring":{"ids":["hidden"]}}');
    expect(inspect(ring)).not.toContain(entry.split(":")[1]);
  });
});
