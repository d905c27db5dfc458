// Pass-through stage that fails at end of stream unless the bytes match an expected size and sha256.
// Placed before decryption so a mismatch aborts downstream (e.g. rolls back pg_restore) before it commits.
import { toHex } from "./bytes.ts";
import { PgsealError } from "./errors.ts";
import type { Hashing } from "./hash.ts";

export function verifyStage(
  hashing: Hashing,
  expected: { bytes: number; sha256: string },
  what: string,
): TransformStream<Uint8Array, Uint8Array> {
  const hash = hashing.sha256();
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.length;
      if (seen > expected.bytes) {
        throw new PgsealError("ARTIFACT_CORRUPT", `${what} is longer than the ${expected.bytes} bytes its manifest records`);
      }
      hash.update(chunk);
      controller.enqueue(chunk);
    },
    async flush() {
      if (seen !== expected.bytes) {
        throw new PgsealError("ARTIFACT_CORRUPT", `${what} has ${seen} bytes, its manifest records ${expected.bytes}`);
      }
      const actual = toHex(await hash.digest());
      if (actual !== expected.sha256) {
        throw new PgsealError("ARTIFACT_CORRUPT", `${what} sha256 is ${actual}, its manifest records ${expected.sha256}`);
      }
    },
  });
}
