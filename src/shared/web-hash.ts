// The Workers runtime's implementation of the injected hashing: DigestStream for sha256, subtle MD5.
import { concatBytes } from "./bytes.ts";
import type { Hashing } from "./hash.ts";

interface DigestStreamLike extends WritableStream<Uint8Array> {
  digest: Promise<ArrayBuffer>;
}

export const workersHashing: Hashing = {
  sha256() {
    // crypto.DigestStream is a Workers extension: incremental hashing without holding the data.
    const stream = new (crypto as unknown as { DigestStream: new (alg: string) => DigestStreamLike }).DigestStream("SHA-256");
    const writer = stream.getWriter();
    return {
      update: (chunk) => void writer.write(chunk),
      digest: async () => {
        await writer.close();
        return new Uint8Array(await stream.digest);
      },
    };
  },
  // Workers' WebCrypto accepts MD5 (non-standard); Content-MD5 needs it.
  md5: async (data) => new Uint8Array(await crypto.subtle.digest("MD5", (data instanceof Uint8Array ? data : concatBytes(data)) as Uint8Array<ArrayBuffer>)),
};
