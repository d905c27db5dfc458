// The byte helpers: base64url against Node's own encoder, and the strictness of its decoder.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { equalBytes, fromBase64, fromBase64Url, toBase64, toBase64Url } from "./bytes.ts";

describe("base64url", () => {
  it("encodes every length as Node does (unpadded, URL alphabet) and decodes back", () => {
    for (let n = 0; n <= 70; n++) {
      const bytes = new Uint8Array(randomBytes(n));
      const text = toBase64Url(bytes);
      expect(text).toBe(Buffer.from(bytes).toString("base64url"));
      expect(equalBytes(fromBase64Url(text), bytes)).toBe(true);
    }
  });

  it("covers both characters that differ from base64 (0xfb 0xff → '-' and '_')", () => {
    const bytes = new Uint8Array([0xfb, 0xff, 0xbf]);
    expect(toBase64(bytes)).toBe("+/+/");
    expect(toBase64Url(bytes)).toBe("-_-_");
  });

  it("refuses the standard alphabet, padding and impossible lengths", () => {
    for (const bad of ["+/+/", "-_-_=", "AA==", "A", "AB CD", "AB.C"]) expect(() => fromBase64Url(bad), bad).toThrow();
  });

  it("leaves fromBase64 accepting either alphabet, as keyring entries are documented to", () => {
    expect([...fromBase64("-_-_")]).toEqual([0xfb, 0xff, 0xbf]);
    expect([...fromBase64("+/+/")]).toEqual([0xfb, 0xff, 0xbf]);
  });
});
