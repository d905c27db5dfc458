// Tests of the Swift s3api harness: the shared server from global setup, and a private one's lifecycle.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { AwsClient } from "aws4fetch";
import { describe, expect, it } from "vitest";
import { isGone } from "./registry.ts";
import { startS3 } from "./s3.ts";
import { useS3 } from "./use-s3.ts";

describe("useS3 (the Swift started by global setup)", () => {
  const s3 = useS3();
  const client = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region, service: "s3" });

  it("listens on loopback and names every created bucket uniquely", async () => {
    expect(new URL(s3.endpoint).hostname).toBe("127.0.0.1");
    const [a, b] = await Promise.all([s3.createBucket("Harness_Test"), s3.createBucket("Harness_Test")]);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^harness-test-[0-9a-f]{12}$/);
    const listing = await (await client.fetch(`${s3.endpoint}/`)).text();
    expect(listing).toContain(`<Name>${a}</Name>`);
    expect(listing).toContain(`<Name>${b}</Name>`);
  });

  it("stores and returns an object byte for byte, including a suffix range", async () => {
    const bucket = await s3.createBucket("roundtrip");
    const body = randomBytes(1 << 20);
    const put = await client.fetch(`${s3.endpoint}/${bucket}/dir/obj.bin`, { method: "PUT", body });
    expect(put.status).toBe(200);
    const got = Buffer.from(await (await client.fetch(`${s3.endpoint}/${bucket}/dir/obj.bin`)).arrayBuffer());
    expect(got.equals(body)).toBe(true);
    const tail = await client.fetch(`${s3.endpoint}/${bucket}/dir/obj.bin`, { headers: { Range: "bytes=-100" } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(body.subarray(body.length - 100))).toBe(true);
  });

  it("rejects a request signed with the wrong secret with 403", async () => {
    const bucket = await s3.createBucket("auth");
    const forged = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: "not-the-secret", region: s3.region, service: "s3" });
    const res = await forged.fetch(`${s3.endpoint}/${bucket}/x`, { method: "PUT", body: "x" });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("SignatureDoesNotMatch");
    expect((await client.fetch(`${s3.endpoint}/${bucket}/x`)).status).toBe(404);
  });
});

describe("startS3", () => {
  it("starts a private Swift whose stop() ends every server and removes its temp dir", async () => {
    const own = await startS3();
    try {
      expect(own.pids).toHaveLength(4);
      await own.createBucket("private-bucket");
      await expect(own.createBucket("Invalid_Bucket_Name!")).rejects.toThrow(/HTTP 400/);
      expect(existsSync(own.dir)).toBe(true);
    } finally {
      await own.stop();
    }
    expect(own.pids.filter((p) => !isGone(p))).toEqual([]);
    expect(existsSync(own.dir)).toBe(false);
  });
});
