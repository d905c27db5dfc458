// The shared pure code runs unchanged inside workerd: format vectors, and a real encrypted multipart round trip to Swift.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { concatBytes, equalBytes, fromHex, toHex } from "../../src/shared/bytes.ts";
import { createDecryptStream, createEncryptStream } from "../../src/shared/format/format.ts";
import { generateKey, parseKeyring } from "../../src/shared/format/keyring.ts";
import { createUploadSink } from "../../src/shared/s3/multipart.ts";
import { S3Client, type S3Target } from "../../src/shared/s3/s3.ts";
import { workersHashing } from "../../src/shared/web-hash.ts";
import vectors from "../vectors/format-v1.json";
import { VECTOR_KEYRING } from "../vectors/vector-inputs.ts";

const MiB = 1024 * 1024;

async function collect(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  return concatBytes(parts);
}

describe("shared code in the Workers runtime", () => {
  it("decrypts every golden vector", async () => {
    const ring = parseKeyring(VECTOR_KEYRING);
    for (const v of vectors.vectors) {
      const out = await collect(new Blob([fromHex(v.ciphertext) as Uint8Array<ArrayBuffer>]).stream().pipeThrough(createDecryptStream(ring)));
      expect(toHex(out)).toBe(v.plaintext);
    }
  });

  it("encrypts, uploads in multipart parts to Swift, reads back and decrypts byte-exactly, with Workers hashing", async () => {
    const s3 = JSON.parse((env as unknown as { TEST_S3: string }).TEST_S3) as Omit<S3Target, "bucket"> & { bucket: string };
    const client = new S3Client(s3, workersHashing);
    const ring = parseKeyring(generateKey("workerd").entry);
    const plain = crypto.getRandomValues(new Uint8Array(11 * MiB + 333).subarray(0, 65536));
    const big = new Uint8Array(11 * MiB + 333);
    for (let o = 0; o < big.length; o += plain.length) big.set(plain.subarray(0, Math.min(plain.length, big.length - o)), o);
    const sink = createUploadSink(client, "workerd/object.pgseal", { partSize: 5 * MiB, concurrency: 2 });
    const sha = workersHashing.sha256();
    await new Blob([big])
      .stream()
      .pipeThrough(createEncryptStream(ring))
      .pipeThrough(new TransformStream({ transform: (c, ctl) => (sha.update(c), ctl.enqueue(c)) }))
      .pipeTo(sink.writable);
    const result = await sink.result;
    expect(result.parts).toBe(3);
    const stored = await collect((await client.get("workerd/object.pgseal")).body);
    expect(stored.length).toBe(result.bytes);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", stored as Uint8Array<ArrayBuffer>));
    expect(toHex(await sha.digest())).toBe(toHex(digest));
    const back = await collect(new Blob([stored as Uint8Array<ArrayBuffer>]).stream().pipeThrough(createDecryptStream(ring)));
    expect(equalBytes(back, big)).toBe(true);
  });
});
