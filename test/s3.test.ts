// The S3 client and the multipart sink against the real Swift s3api: every call the product makes.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { concatBytes, equalBytes } from "../src/shared/bytes.ts";
import { choosePartSize, createUploadSink, DEFAULT_PART_BYTES } from "../src/shared/multipart.ts";
import { S3Client, type S3Target } from "../src/shared/s3.ts";
import { startDiscardS3 } from "./harness/discard-s3.ts";
import { useS3 } from "./harness/use-s3.ts";

const MiB = 1024 * 1024;
let target: S3Target;
let client: S3Client;

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function source(bytes: Uint8Array, seed = 7): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= bytes.length) return c.close();
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const n = 1 + (seed % (700 * 1024));
      c.enqueue(bytes.subarray(o, (o += n)));
    },
  });
}

/** A real HTTP server in front of Swift that records request headers and can fail the first N requests. */
async function frontProxy(failFirst = 0): Promise<{ endpoint: string; headers: http.IncomingHttpHeaders[]; stop(): Promise<void> }> {
  const upstream = new URL(target.endpoint);
  const headers: http.IncomingHttpHeaders[] = [];
  let failures = failFirst;
  const server = http.createServer((req, res) => {
    headers.push(req.headers);
    if (failures-- > 0) {
      req.resume();
      return res.writeHead(503).end("<Error><Code>SlowDown</Code><Message>busy</Message></Error>");
    }
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, headers, stop: () => new Promise((r) => server.close(() => r())) };
}

beforeAll(async () => {
  const s3 = useS3();
  target = { endpoint: s3.endpoint, bucket: await s3.createBucket("s3client"), region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  client = new S3Client(target, nodeHashing);
});

describe("S3 client objects", () => {
  it("puts and gets bytes exactly, for binary, empty and awkward keys", async () => {
    const cases: [string, Uint8Array][] = [
      ["plain/binary.bin", new Uint8Array(randomBytes(100_000))],
      ["plain/empty", new Uint8Array(0)],
      ["odd/with space+plus%percent/ünïcødé 🐘 (x)*!'.txt", new TextEncoder().encode("awkward")],
    ];
    for (const [key, body] of cases) {
      await client.put(key, body);
      const got = await client.get(key);
      expect(got.size).toBe(body.length);
      expect(equalBytes(await bytesOf(got.body), body), key).toBe(true);
      expect((await client.head(key))?.size).toBe(body.length);
    }
  });

  it("serves byte ranges and suffix ranges", async () => {
    const body = new Uint8Array(randomBytes(10_000));
    await client.put("range/obj", body);
    expect(equalBytes(await bytesOf((await client.get("range/obj", { range: { start: 100, end: 199 } })).body), body.subarray(100, 200))).toBe(true);
    expect(equalBytes(await bytesOf((await client.get("range/obj", { range: { suffix: 16 } })).body), body.subarray(-16))).toBe(true);
  });

  it("lists a prefix across pages and nothing outside it, then deletes", async () => {
    for (const k of ["list/a", "list/b", "list/c/d", "list/e", "list/f", "listx/outside"]) await client.put(k, k);
    const keys = [];
    for await (const o of client.list("list/", { pageSize: 2 })) keys.push(o.key);
    expect(keys).toEqual(["list/a", "list/b", "list/c/d", "list/e", "list/f"]);
    await client.delete("list/a");
    expect(await client.head("list/a")).toBeNull();
    await client.delete("list/a"); // deleting what is gone is not an error
  });

  it("reports a missing key as S3_NO_SUCH_KEY and head() as null", async () => {
    await expect(client.get("nope/missing")).rejects.toMatchObject({ code: "S3_NO_SUCH_KEY" });
    expect(await client.head("nope/missing")).toBeNull();
  });

  it("reports a wrong secret as S3_FORBIDDEN naming the endpoint, without the secret", async () => {
    const bad = new S3Client({ ...target, secretAccessKey: "definitely-wrong-secret" }, nodeHashing);
    const err = await bad.put("x", "y").catch((e) => e);
    expect(err).toMatchObject({ code: "S3_FORBIDDEN", retryable: false });
    expect(err.message).toContain(target.endpoint);
    expect(err.message).not.toContain("definitely-wrong-secret");
    expect(err.message).not.toContain(target.secretAccessKey);
  });

  it("reports a missing bucket as S3_NO_SUCH_BUCKET naming bucket and endpoint", async () => {
    const err = await new S3Client({ ...target, bucket: "no-such-bucket-9z" }, nodeHashing).put("x", "y").catch((e) => e);
    expect(err).toMatchObject({ code: "S3_NO_SUCH_BUCKET" });
    expect(err.message).toMatch(/no-such-bucket-9z/);
    expect(err.message).toContain(target.endpoint);
  });

  it("gives up with S3_UNAVAILABLE after bounded retries when nothing listens", async () => {
    // A port that was just free: nothing listens there (port 9 would be refused by fetch itself as a "bad port").
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const dead = new S3Client({ ...target, endpoint: `http://127.0.0.1:${port}` }, nodeHashing, { retries: 2, baseDelayMs: 5 });
    const err = await dead.head("x").catch((e) => e);
    expect(err).toMatchObject({ code: "S3_UNAVAILABLE", retryable: true });
    expect(err.message).toMatch(/ECONNREFUSED.*gave up after 3 attempts/);
  });

  it("retries a 503 and then succeeds, and never sends x-amz-checksum headers", async () => {
    const proxy = await frontProxy(2);
    try {
      const c = new S3Client({ ...target, endpoint: proxy.endpoint }, nodeHashing, { baseDelayMs: 5 });
      await c.put("retry/obj", "after two 503s");
      expect(await bytesOf((await c.get("retry/obj")).body)).toEqual(new TextEncoder().encode("after two 503s"));
      expect(proxy.headers.length).toBe(4);
      for (const h of proxy.headers) expect(Object.keys(h).filter((k) => k.startsWith("x-amz-checksum"))).toEqual([]);
      expect(proxy.headers[2]["content-md5"]).toBeTruthy();
    } finally {
      await proxy.stop();
    }
  });

  it("does not retry a 4xx", async () => {
    const proxy = await frontProxy(0);
    try {
      const c = new S3Client({ ...target, endpoint: proxy.endpoint, secretAccessKey: "wrong" }, nodeHashing, { baseDelayMs: 5 });
      await expect(c.put("x", "y")).rejects.toMatchObject({ code: "S3_FORBIDDEN" });
      expect(proxy.headers.length).toBe(1);
    } finally {
      await proxy.stop();
    }
  });
});

describe("multipart upload sink", () => {
  it("uploads ~23 MiB in fixed 5 MiB parts from random chunk sizes, byte-exact", async () => {
    const body = new Uint8Array(randomBytes(23 * MiB + 12345));
    const sink = createUploadSink(client, "mp/object", { partSize: 5 * MiB, concurrency: 3 });
    await source(body).pipeTo(sink.writable);
    const r = await sink.result;
    expect(r).toMatchObject({ bytes: body.length, parts: 5, partSize: 5 * MiB });
    expect(r.etag).toMatch(/-5"?$/);
    expect(equalBytes(await bytesOf((await client.get("mp/object")).body), body)).toBe(true);
  });

  it("keeps at most `concurrency` parts in flight and applies backpressure", async () => {
    const discard = await startDiscardS3();
    let inflight = 0;
    let maxInflight = 0;
    const slowFetch: typeof fetch = async (input, init) => {
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      await new Promise((r) => setTimeout(r, 30));
      try {
        return await fetch(input, init);
      } finally {
        inflight--;
      }
    };
    try {
      const c = new S3Client({ ...target, endpoint: discard.endpoint }, nodeHashing, { fetch: slowFetch });
      const sink = createUploadSink(c, "bp/object", { partSize: 5 * MiB, concurrency: 2 });
      const writer = sink.writable.getWriter();
      let accepted = 0;
      const chunk = new Uint8Array(MiB);
      for (let i = 0; i < 60; i++) {
        await writer.ready;
        await writer.write(chunk);
        accepted += chunk.length;
        // Bytes accepted but not yet uploaded never exceed the parts in flight plus the one filling.
        expect(accepted - discard.stats().bytes).toBeLessThanOrEqual(5 * MiB * (2 + 1) + MiB);
      }
      await writer.close();
      expect(await sink.result).toMatchObject({ parts: 12 });
      expect(maxInflight).toBeLessThanOrEqual(2);
    } finally {
      await discard.stop();
    }
  });

  it("aborts the multipart upload when the input fails, leaving no upload behind", async () => {
    const sink = createUploadSink(client, "abort/object", { partSize: 5 * MiB });
    const writer = sink.writable.getWriter();
    await writer.write(new Uint8Array(12 * MiB));
    await writer.abort(new Error("upstream broke"));
    await expect(sink.result).rejects.toThrow(/upstream broke/);
    const open = [];
    for await (const u of client.listMultipartUploads("abort/")) open.push(u);
    expect(open).toEqual([]);
    expect(await client.head("abort/object")).toBeNull();
  });

  it("stores an object smaller than one part with a single PUT", async () => {
    const sink = createUploadSink(client, "small/object", { partSize: 5 * MiB });
    await source(new Uint8Array(1000)).pipeTo(sink.writable);
    expect(await sink.result).toMatchObject({ bytes: 1000, parts: 1 });
    expect((await client.head("small/object"))?.size).toBe(1000);
  });
});

describe("choosePartSize", () => {
  it.each([
    [undefined, DEFAULT_PART_BYTES],
    [1e6, DEFAULT_PART_BYTES],
    [2e9, DEFAULT_PART_BYTES],
    [100e9, 22 * MiB],
    [1e12, 212 * MiB],
  ])("picks %s bytes → %s-byte parts, leaving room for 2x growth within 10,000 parts", (size, expected) => {
    const part = choosePartSize(size);
    expect(part).toBe(expected);
    if (size) expect(Math.ceil((2 * size) / part)).toBeLessThanOrEqual(10_000);
  });
});
