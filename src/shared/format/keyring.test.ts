// The keyring: parsing, rotation, key generation, and that key material never reaches a message or a log.
import { inspect } from "node:util";
import { describe, expect, it, vi } from "vitest";
import { concatBytes, fromBase64, toBase64, toBase64Url, toHex } from "../bytes.ts";
import { PgsealError } from "../errors.ts";
import { createDecryptStream, createEncryptStream, readHeader } from "./format.ts";
import { generateKey, parseKeyring, type Keyring } from "./keyring.ts";

const keyBytes = (fill: number) => new Uint8Array(32).fill(fill);
const b64 = (bytes: Uint8Array) => toBase64(bytes);

function parseError(text: string): PgsealError {
  try {
    parseKeyring(text);
  } catch (e) {
    expect(e).toBeInstanceOf(PgsealError);
    return e as PgsealError;
  }
  throw new Error("parseKeyring accepted a bad keyring");
}

async function through(bytes: Uint8Array, t: TransformStream<Uint8Array, Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(t)) parts.push(c);
  return concatBytes(parts);
}

describe("parseKeyring", () => {
  it("reads entries separated by commas, spaces and newlines, and makes the last one active", () => {
    const ring = parseKeyring(` a:${b64(keyBytes(1))},b:${b64(keyBytes(2))}\n\n c.2_x-y:${b64(keyBytes(3))} ,\r\n`);
    expect(ring.ids).toEqual(["a", "b", "c.2_x-y"]);
    expect(ring.active.id).toBe("c.2_x-y");
    expect(toHex(ring.active.bytes)).toBe(toHex(keyBytes(3)));
    expect(toHex(ring.get("a")!.bytes)).toBe(toHex(keyBytes(1)));
    expect(ring.get("zzz")).toBeUndefined();
  });

  it("accepts standard and URL-safe base64, with or without padding, as the same key", () => {
    const bytes = Uint8Array.from({ length: 32 }, (_, i) => 0xf8 + i); // produces '+' '/' and '-' '_'
    expect(b64(bytes)).toMatch(/[+/]/);
    const a = parseKeyring(`k:${b64(bytes)}`).active.bytes;
    const b = parseKeyring(`k:${toBase64Url(bytes)}`).active.bytes;
    expect(toHex(a)).toBe(toHex(bytes));
    expect(toHex(b)).toBe(toHex(bytes));
  });

  it("rejects a bad keyring with KEY_INVALID, naming the entry by position and id", () => {
    const good = `a:${b64(keyBytes(1))}`;
    const cases: [string, RegExp][] = [
      ["", /keyring is empty/],
      [" , \n ", /keyring is empty/],
      [`${good},b:${b64(new Uint8Array(31).fill(9))}`, /^keyring entry 2 \(id 'b'\) decodes to 31 bytes; keys are exactly 32 bytes$/],
      [`b:${b64(new Uint8Array(33).fill(9))}`, /^keyring entry 1 \(id 'b'\) decodes to 33 bytes/],
      [`${good} x:${b64(keyBytes(2))} ${good}`, /^keyring entry 3 repeats key id 'a' of entry 1/],
      [`${good},c:not*base64!`, /^keyring entry 2 \(id 'c'\) is not valid base64/],
      [b64(keyBytes(4)), /^keyring entry 1 has no valid key id/],
      [`:${b64(keyBytes(4))}`, /^keyring entry 1 has no valid key id/],
      [`${"x".repeat(33)}:${b64(keyBytes(4))}`, /^keyring entry 1 has no valid key id/],
      [`bad/id:${b64(keyBytes(4))}`, /^keyring entry 1 has no valid key id/],
    ];
    for (const [text, re] of cases) {
      const e = parseError(text);
      expect(e.code, text).toBe("KEY_INVALID");
      expect(e.message, text).toMatch(re);
    }
  });

  it("never puts key material into its error messages", () => {
    const key = b64(Uint8Array.from({ length: 32 }, (_, i) => 100 + i));
    const short = b64(Uint8Array.from({ length: 30 }, (_, i) => 50 + i));
    const attempts = [key, `${key}:a`, `a:${short}`, `a:${key},a:${key}`, `a:${key}*`, `a:${key}:${key}`, `${key.slice(0, 40)}:${key}`];
    for (const text of attempts) {
      const e = parseError(text);
      for (const secret of [key, short, key.slice(0, 12), key.slice(-12), short.slice(4, 16)]) {
        expect(e.message, `message for input #${attempts.indexOf(text)}`).not.toContain(secret);
      }
    }
  });

  it("does not reveal key bytes through JSON.stringify or util.inspect, of the keyring or of one key", () => {
    const entry = generateKey("hidden").entry;
    const secret = entry.split(":")[1];
    const ring = parseKeyring(entry);
    expect(JSON.stringify({ ring })).toBe('{"ring":{"ids":["hidden"]}}');
    expect(JSON.stringify(ring.active)).toBe('{"id":"hidden"}');
    for (const shown of [inspect(ring, { depth: 5 }), inspect(ring.active), inspect({ nested: ring }), String(JSON.stringify([ring.get("hidden")]))]) {
      expect(shown).not.toContain(secret);
      expect(shown).toContain("hidden");
      expect(shown).not.toContain("Uint8Array");
    }
  });
});

describe("generateKey", () => {
  it("makes a fresh random 32-byte key each time, with a dated default id the keyring accepts", () => {
    // A pinned clock: "today" read beside the call could be the other side of midnight UTC from it.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.parse("2026-03-09T23:59:59.999Z") });
    let a: ReturnType<typeof generateKey>;
    let b: ReturnType<typeof generateKey>;
    try {
      a = generateKey();
      b = generateKey();
    } finally {
      vi.useRealTimers();
    }
    expect(a.id).toMatch(/^k20260309[0-9a-f]{4}$/);
    expect(a.entry.startsWith(`${a.id}:`)).toBe(true);
    expect(fromBase64(a.entry.split(":")[1]).length).toBe(32);
    expect(a.entry.split(":")[1]).not.toBe(b.entry.split(":")[1]);
    expect(parseKeyring(a.entry).active.id).toBe(a.id);
  });

  it("uses a chosen id and refuses one the keyring could not parse", () => {
    expect(generateKey("prod-2025.1").id).toBe("prod-2025.1");
    for (const bad of ["", "has space", "x".repeat(33), "a:b"]) {
      expect(() => generateKey(bad)).toThrow(expect.objectContaining({ code: "USAGE" }));
    }
  });
});

describe("key rotation", () => {
  const encryptWith = (ring: Keyring, pt: Uint8Array) => through(pt, createEncryptStream(ring, { segmentSize: 64 }));

  it("encrypts with the newly appended key and still decrypts artifacts made with the old active key", async () => {
    const old = generateKey("old").entry;
    const pt = crypto.getRandomValues(new Uint8Array(300));
    const before = await encryptWith(parseKeyring(old), pt);
    expect(readHeader(before).keyId).toBe("old");
    const rotated = parseKeyring(`${old},\n${generateKey("new").entry}`);
    expect(rotated.active.id).toBe("new");
    const after = await encryptWith(rotated, pt);
    expect(readHeader(after).keyId).toBe("new");
    expect(toHex(await through(before, createDecryptStream(rotated)))).toBe(toHex(pt));
    expect(toHex(await through(after, createDecryptStream(rotated)))).toBe(toHex(pt));
  });

  it("cannot decrypt a new artifact with the ring from before the rotation, and says which key is missing", async () => {
    const old = generateKey("old").entry;
    const after = await encryptWith(parseKeyring(`${old},${generateKey("new").entry}`), new Uint8Array(10));
    await expect(through(after, createDecryptStream(parseKeyring(old)))).rejects.toMatchObject({
      code: "KEY_UNKNOWN_ID",
      message: "the artifact was encrypted with key id 'new' but the keyring has: old",
    });
  });
});
