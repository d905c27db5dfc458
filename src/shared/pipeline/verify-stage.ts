// Pass-through stage that binds the bytes read to their manifest: the header's digest at the start, size and sha256 at the end.
// Placed before decryption. It withholds bytes so that nothing downstream can finish early:
// the header until it matches the manifest (a different artifact, even a valid one under the same
// key, is refused before any plaintext exists), and the last chunk until size and sha256 match
// (the final segment cannot be decrypted, so pg_restore cannot reach the end of the archive and
// commit, before the whole object is proven to be the one the manifest records).
import { concatBytes, toHex } from "../bytes.ts";
import { PgsealError } from "../errors.ts";
import { readHeader } from "../format/format.ts";
import type { Hashing } from "../hash.ts";

export interface ExpectedArtifact {
  bytes: number;
  sha256: string;
  /** sha256 of the artifact's header (docs/FORMAT.md "Binding"); manifests before it lack it. */
  headerSha256?: string;
}

export function verifyStage(hashing: Hashing, expected: ExpectedArtifact, what: string): TransformStream<Uint8Array, Uint8Array> {
  const hash = hashing.sha256();
  let seen = 0;
  let head: Uint8Array | null = expected.headerSha256 ? new Uint8Array(0) : null;
  let held: Uint8Array | null = null;

  const checkHeader = async (bytes: Uint8Array): Promise<boolean> => {
    const actual = await headerDigestOf(hashing, bytes);
    if (actual === undefined) return false; // not all of it yet
    if (actual !== expected.headerSha256) {
      throw new PgsealError(
        "ARTIFACT_MISMATCH",
        `${what} is not the artifact its manifest describes (header sha256 ${actual.slice(0, 16)}…, manifest records ${expected.headerSha256!.slice(0, 16)}…): the object was replaced or the manifest belongs to another backup; nothing was restored`,
      );
    }
    return true;
  };

  return new TransformStream({
    async transform(chunk, controller) {
      seen += chunk.length;
      if (seen > expected.bytes) {
        throw new PgsealError("ARTIFACT_CORRUPT", `${what} is longer than the ${expected.bytes} bytes its manifest records`);
      }
      hash.update(chunk);
      if (head) {
        head = concatBytes([head, chunk]);
        if (!(await checkHeader(head))) return;
        chunk = head;
        head = null;
      }
      if (held) controller.enqueue(held);
      held = chunk;
    },
    async flush(controller) {
      if (head) throw new PgsealError("FORMAT_TRUNCATED", `${what} ends inside its header`);
      if (seen !== expected.bytes) {
        throw new PgsealError("ARTIFACT_CORRUPT", `${what} has ${seen} bytes, its manifest records ${expected.bytes}`);
      }
      const actual = toHex(await hash.digest());
      if (actual !== expected.sha256) {
        throw new PgsealError("ARTIFACT_CORRUPT", `${what} sha256 is ${actual}, its manifest records ${expected.sha256}`);
      }
      if (held) controller.enqueue(held);
    },
  });
}

/** The writer's side of the binding: a pass-through over the encrypted stream that digests its header for the manifest. */
export function headerDigestTap(hashing: Hashing): { stage: TransformStream<Uint8Array, Uint8Array>; headerSha256(): Promise<string> } {
  let head: Uint8Array | null = new Uint8Array(0);
  let digest: Promise<string> | undefined;
  const stage = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (head) {
        head = concatBytes([head, chunk]);
        if (headerLengthOf(head) !== undefined) {
          digest = headerDigestOf(hashing, head) as Promise<string>;
          head = null;
        }
      }
      controller.enqueue(chunk);
    },
  });
  return {
    stage,
    headerSha256: () => digest ?? Promise.reject(new PgsealError("FORMAT_TRUNCATED", "the encrypted stream ended before its header was complete")),
  };
}

/** The header's length once `bytes` hold all of it; undefined while they do not (any other damage throws). */
function headerLengthOf(bytes: Uint8Array): number | undefined {
  try {
    return readHeader(bytes).headerLength;
  } catch (e) {
    if (e instanceof PgsealError && e.code === "FORMAT_TRUNCATED") return undefined;
    throw e;
  }
}

/** sha256 (hex) of the header at the start of `bytes`: the value the manifest's `artifact.headerSha256` holds. */
async function headerDigestOf(hashing: Hashing, bytes: Uint8Array): Promise<string | undefined> {
  const length = headerLengthOf(bytes);
  if (length === undefined) return undefined;
  const h = hashing.sha256();
  h.update(bytes.subarray(0, length));
  return toHex(await h.digest());
}
