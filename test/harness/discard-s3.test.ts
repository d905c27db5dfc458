// The discard S3 endpoint: speaks enough S3 for the upload sink, drops bytes, counts them, injects resets.
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { nodeHashing } from "../../container/src/node-hash.ts";
import { S3Client } from "../../src/shared/s3/s3.ts";
import { startDiscardS3 } from "./discard-s3.ts";

const MiB = 1024 * 1024;
const creds = { bucket: "b", region: "us-east-1", accessKeyId: "AK", secretAccessKey: "SK" };

describe("discard S3 endpoint", () => {
  it("answers multipart uploads and PUTs with the body's MD5 as ETag and counts what it dropped", async () => {
    const discard = await startDiscardS3();
    const c = new S3Client({ ...creds, endpoint: discard.endpoint }, nodeHashing, { retries: 0 });
    const p1 = new Uint8Array(randomBytes(3 * MiB));
    const id = await c.createMultipart("k");
    expect(await c.uploadPart("k", id, 1, p1)).toBe(`"${createHash("md5").update(p1).digest("hex")}"`);
    await c.uploadPart("k", id, 2, new Uint8Array(10));
    await c.completeMultipart("k", id, [{ partNumber: 1, etag: '"a"' }]);
    expect((await c.put("single", "hello")).etag).toBe(`"${createHash("md5").update("hello").digest("hex")}"`);
    expect(await c.head("single")).toBeNull();
    expect(discard.stats()).toEqual({ bytes: 3 * MiB + 15, parts: 2, uploads: 1, completed: 1, aborted: 0, puts: 1, partSizes: [3 * MiB, 10], maxPartsInFlight: 1, resets: 0 });
    await discard.stop();
    await expect(c.head("single")).rejects.toMatchObject({ code: "S3_UNAVAILABLE" });
  });

  it("rejects a body whose Content-MD5 does not match it", async () => {
    const discard = await startDiscardS3();
    try {
      const res = await fetch(`${discard.endpoint}/b/k?partNumber=1&uploadId=x`, { method: "PUT", body: "abc", headers: { "content-md5": "AAAAAAAAAAAAAAAAAAAAAA==" } });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain("BadDigest");
      expect(discard.stats().parts).toBe(0);
    } finally {
      await discard.stop();
    }
  });

  it("resets every body-carrying connection once failAfterBytes have arrived, and still answers aborts", async () => {
    const discard = await startDiscardS3({ failAfterBytes: MiB });
    try {
      const put = (n: number) => fetch(`${discard.endpoint}/b/k?partNumber=1&uploadId=x`, { method: "PUT", body: new Uint8Array(n) });
      expect((await put(1000)).status).toBe(200);
      await expect(put(2 * MiB)).rejects.toThrow(TypeError);
      await expect(put(10)).rejects.toThrow(TypeError);
      expect((await fetch(`${discard.endpoint}/b/k?uploadId=x`, { method: "DELETE" })).status).toBe(204);
      expect(discard.stats()).toMatchObject({ parts: 1, aborted: 1, resets: 2 });
    } finally {
      await discard.stop();
    }
  });
});
