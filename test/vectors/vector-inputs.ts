// The fixed inputs of the golden vectors in format-v1.json (shared by the generator and the tests).
import { toBase64 } from "../../src/shared/bytes.ts";

export const VECTOR_KEY_ID = "vector";
export const VECTOR_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
export const VECTOR_SALT = Uint8Array.from({ length: 32 }, (_, i) => 0x10 + i);
export const VECTOR_NONCE_PREFIX = Uint8Array.from({ length: 7 }, (_, i) => 0xa0 + i);
export const VECTOR_SEGMENT_BYTES = 64;
export const VECTOR_KEYRING = `${VECTOR_KEY_ID}:${toBase64(VECTOR_KEY)}`;

export const VECTOR_CASES: { name: string; plaintextBytes: number }[] = [
  { name: "empty", plaintextBytes: 0 },
  { name: "one byte", plaintextBytes: 1 },
  { name: "exactly one segment", plaintextBytes: 64 },
  { name: "three segments and a partial one", plaintextBytes: 3 * 64 + 17 },
];

export function vectorPlaintext(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
}
