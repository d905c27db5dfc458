// The S3 client against the real Swift s3api (and small real HTTP servers for faults Swift cannot produce).
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { concatBytes, equalBytes } from "../src/shared/bytes.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { useS3 } from "./harness/use-s3.ts";

const MiB = 1024 * 1024;
let target: S3Target;
let client: S3Client;

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function listen(server: http.Server): Promise<{ endpoint: string; stop(): Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { endpoint, stop: () => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())) };
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** A real HTTP proxy in front of Swift that records requests; it can answer the first N with 503 or flip a body byte. */
async function frontProxy(opts: { failFirst?: number; corruptBodies?: boolean } = {}) {
  const upstream = new URL(target.endpoint);
  const seen: Seen[] = [];
  let failures = opts.failFirst ?? 0;
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    if (failures-- > 0) {
      req.resume();
      return res.writeHead(503).end("<Error><Code>SlowDown</Code><Message>busy</Message></Error>");
    }
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    let first = true;
    req.on("data", (d: Buffer) => {
      if (opts.corruptBodies && first && d.length > 0) d[0] ^= 0xff;
      first = false;
      up.write(d);
    });
    req.on("end", () => up.end());
  });
  return { seen, ...(await listen(server)) };
}

/** A real HTTP server answering every request from a script, for answers Swift never gives. */
async function scriptedServer(answer: (req: Seen, n: number) => { status: number; body?: string; headers?: Record<string, string> }) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers };
      seen.push(s);
      const a = answer(s, seen.length);
      res.writeHead(a.status, a.headers ?? {}).end(a.body ?? "");
    });
  });
  return { seen, ...(await listen(server)) };
}

beforeAll(async () => {
  const s3 = useS3();
  target = { endpoint: s3.endpoint, bucket: await s3.createBucket("s3client"), region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  client = new S3Client(target, nodeHashing);
});

describe("S3 client objects", () => {
  it("puts and gets bytes exactly, for binary, empty and awkward keys, and head reports the same size and ETag", async () => {
    const cases: [string, Uint8Array][] = [
      ["plain/binary.bin", new Uint8Array(randomBytes(100_000))],
      ["plain/empty", new Uint8Array(0)],
      ["odd/with space+plus%percent/ünïcødé 🐘 (x)*!'&.txt", new TextEncoder().encode("awkward")],
      ["odd/a+b=c?d#e", new Uint8Array([0, 255, 10, 13])],
    ];
    for (const [key, body] of cases) {
      const before = Date.now();
      const { etag } = await client.put(key, body);
      expect(etag).toBe(`"${createHash("md5").update(body).digest("hex")}"`);
      const got = await client.get(key);
      expect(got.size).toBe(body.length);
      expect(equalBytes(await bytesOf(got.body), body), key).toBe(true);
      const head = await client.head(key);
      expect(head).toMatchObject({ size: body.length, etag });
      expect(Math.abs(head!.lastModified.getTime() - before)).toBeLessThan(60_000);
    }
  });

  it("streams a large object in many chunks instead of buffering it", async () => {
    const body = new Uint8Array(randomBytes(4 * MiB));
    await client.put("stream/big", body);
    const chunks: Uint8Array[] = [];
    for await (const c of (await client.get("stream/big")).body) chunks.push(c);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks[0].length).toBeLessThan(body.length);
    expect(equalBytes(concatBytes(chunks), body)).toBe(true);
  });

  it("serves byte ranges, open-ended ranges and suffix ranges", async () => {
    const body = new Uint8Array(randomBytes(10_000));
    await client.put("range/obj", body);
    const mid = await client.get("range/obj", { range: { start: 100, end: 199 } });
    expect(mid.size).toBe(100);
    expect(equalBytes(await bytesOf(mid.body), body.subarray(100, 200))).toBe(true);
    expect(equalBytes(await bytesOf((await client.get("range/obj", { range: { start: 9_990 } })).body), body.subarray(9_990))).toBe(true);
    const tail = await client.get("range/obj", { range: { suffix: 16 } });
    expect(tail.size).toBe(16);
    expect(equalBytes(await bytesOf(tail.body), body.subarray(-16))).toBe(true);
  });

  it("lists a prefix across pages of 2 with sizes and ETags, nothing outside it, and keys with XML entities intact", async () => {
    const inside = ["list/a", "list/b&<>\"'", "list/c/d", "list/e", "list/f"];
    for (const k of [...inside, "listx/outside", "other/list/a"]) await client.put(k, k);
    const seen = [];
    for await (const o of client.list("list/", { pageSize: 2 })) seen.push(o);
    expect(seen.map((o) => o.key)).toEqual(inside);
    for (const o of seen) {
      expect(o.size).toBe(new TextEncoder().encode(o.key).length);
      expect(o.etag).toBe(`"${createHash("md5").update(o.key).digest("hex")}"`);
      expect(o.lastModified.getTime()).not.toBeNaN();
    }
    const direct = [];
    for await (const o of client.list("list/", { delimiter: "/" })) direct.push(o.key);
    expect(direct).toEqual(["list/a", "list/b&<>\"'", "list/e", "list/f"]);
  });

  it("deletes a key, and deleting a key that is gone is not an error", async () => {
    await client.put("del/x", "x");
    await client.delete("del/x");
    expect(await client.head("del/x")).toBeNull();
    await expect(client.delete("del/x")).resolves.toBeUndefined();
  });

  it("reports a missing key on GET as S3_NO_SUCH_KEY naming the key, while head() returns null", async () => {
    const err = await client.get("nope/missing").catch((e) => e);
    expect(err).toMatchObject({ code: "S3_NO_SUCH_KEY", retryable: false });
    expect(err.message).toContain("nope/missing");
    expect(await client.head("nope/missing")).toBeNull();
  });

  it("refuses keys with '.' or '..' segments, which a URL would silently rewrite", async () => {
    await expect(client.put("a/../b", "x")).rejects.toMatchObject({ code: "S3_BAD_REQUEST" });
  });
});

describe("S3 client multipart calls", () => {
  it("creates, lists, completes an upload whose object is the parts in order, with an md5-of-md5s ETag", async () => {
    const p1 = new Uint8Array(randomBytes(5 * MiB));
    const p2 = new Uint8Array(randomBytes(1234));
    const id = await client.createMultipart("mpc/object", { contentType: "application/octet-stream" });
    const e1 = await client.uploadPart("mpc/object", id, 1, p1);
    const e2 = await client.uploadPart("mpc/object", id, 2, p2);
    const open = [];
    for await (const u of client.listMultipartUploads("mpc/")) open.push(u);
    expect(open).toMatchObject([{ key: "mpc/object", uploadId: id }]);
    expect(Math.abs(open[0].initiated.getTime() - Date.now())).toBeLessThan(60_000);
    const { etag } = await client.completeMultipart("mpc/object", id, [
      { partNumber: 1, etag: e1 },
      { partNumber: 2, etag: e2 },
    ]);
    const md5s = Buffer.concat([p1, p2].map((p) => createHash("md5").update(p).digest()));
    expect(etag).toBe(`"${createHash("md5").update(md5s).digest("hex")}-2"`);
    expect(equalBytes(await bytesOf((await client.get("mpc/object")).body), concatBytes([p1, p2]))).toBe(true);
  });

  it("aborts an upload so that no upload or object remains, and aborting twice is not an error", async () => {
    const id = await client.createMultipart("mpa/object");
    await client.uploadPart("mpa/object", id, 1, new Uint8Array(5 * MiB));
    await client.abortMultipart("mpa/object", id);
    await client.abortMultipart("mpa/object", id);
    const open = [];
    for await (const u of client.listMultipartUploads("mpa/")) open.push(u);
    expect(open).toEqual([]);
    expect(await client.head("mpa/object")).toBeNull();
  });

  it("stops calls with CANCELLED once its signal aborts, but still aborts uploads (cleanup)", async () => {
    const ac = new AbortController();
    const c = new S3Client(target, nodeHashing, { signal: ac.signal });
    const id = await c.createMultipart("cancel/object");
    ac.abort();
    await expect(c.uploadPart("cancel/object", id, 1, new Uint8Array(10))).rejects.toMatchObject({ code: "CANCELLED" });
    await c.abortMultipart("cancel/object", id);
    const open = [];
    for await (const u of client.listMultipartUploads("cancel/")) open.push(u);
    expect(open).toEqual([]);
  });

  it("treats a 200 CompleteMultipartUpload answer carrying <Error> as a failure, retried only when transient", async () => {
    const errorBody = (code: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>m</Message></Error>`;
    const transient = await scriptedServer((_, n) => ({
      status: 200,
      body: n === 1 ? errorBody("InternalError") : '<CompleteMultipartUploadResult><ETag>"x-1"</ETag></CompleteMultipartUploadResult>',
    }));
    const permanent = await scriptedServer(() => ({ status: 200, body: errorBody("InvalidPart") }));
    try {
      const ok = new S3Client({ ...target, endpoint: transient.endpoint }, nodeHashing, { baseDelayMs: 5 });
      expect(await ok.completeMultipart("k", "u", [{ partNumber: 1, etag: '"e"' }])).toEqual({ etag: '"x-1"' });
      expect(transient.seen.length).toBe(2);
      const bad = new S3Client({ ...target, endpoint: permanent.endpoint }, nodeHashing, { baseDelayMs: 5 });
      const err = await bad.completeMultipart("k", "u", [{ partNumber: 1, etag: '"e"' }]).catch((e) => e);
      expect(err).toMatchObject({ code: "S3_BAD_REQUEST" });
      expect(err.message).toContain("InvalidPart");
      expect(permanent.seen.length).toBe(1);
    } finally {
      await Promise.all([transient.stop(), permanent.stop()]);
    }
  });
});

describe("S3 client failures", () => {
  it("reports a wrong secret as S3_FORBIDDEN naming the endpoint, without any secret, and does not retry it", async () => {
    const proxy = await frontProxy();
    try {
      const bad = new S3Client({ ...target, endpoint: proxy.endpoint, secretAccessKey: "definitely-wrong-secret" }, nodeHashing, { baseDelayMs: 5 });
      const err = await bad.put("x", "y").catch((e) => e);
      expect(err).toMatchObject({ code: "S3_FORBIDDEN", retryable: false });
      expect(err.message).toContain(proxy.endpoint);
      expect(err.message).toMatch(/check the access key id and secret/);
      expect(err.message).not.toContain("definitely-wrong-secret");
      expect(err.message).not.toContain(target.secretAccessKey);
      expect(proxy.seen.length).toBe(1);
    } finally {
      await proxy.stop();
    }
  });

  it("reports a missing bucket as S3_NO_SUCH_BUCKET naming bucket and endpoint", async () => {
    const err = await new S3Client({ ...target, bucket: "no-such-bucket-9z" }, nodeHashing).put("x", "y").catch((e) => e);
    expect(err).toMatchObject({ code: "S3_NO_SUCH_BUCKET", retryable: false });
    expect(err.message).toContain("no-such-bucket-9z");
    expect(err.message).toContain(target.endpoint);
  });

  it("gives up with a retryable S3_UNAVAILABLE naming ECONNREFUSED after bounded retries when nothing listens", async () => {
    // A port that was just free: nothing listens there.
    const probe = http.createServer();
    const { endpoint, stop } = await listen(probe);
    await stop();
    const dead = new S3Client({ ...target, endpoint }, nodeHashing, { retries: 2, baseDelayMs: 5 });
    const started = Date.now();
    const err = await dead.head("x").catch((e) => e);
    expect(err).toMatchObject({ code: "S3_UNAVAILABLE", retryable: true });
    expect(err.message).toMatch(/ECONNREFUSED.*gave up after 3 attempts/);
    expect(err.message).toContain(endpoint);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("retries 503 answers and then succeeds", async () => {
    const proxy = await frontProxy({ failFirst: 2 });
    try {
      const c = new S3Client({ ...target, endpoint: proxy.endpoint }, nodeHashing, { baseDelayMs: 5 });
      await c.put("retry/obj", "after two 503s");
      expect(new TextDecoder().decode(await bytesOf((await client.get("retry/obj")).body))).toBe("after two 503s");
      expect(proxy.seen.map((s) => s.method)).toEqual(["PUT", "PUT", "PUT"]);
    } finally {
      await proxy.stop();
    }
  });

  it("gives up on a store that keeps answering 503, as S3_UNAVAILABLE after retries+1 attempts", async () => {
    const proxy = await frontProxy({ failFirst: 100 });
    try {
      const c = new S3Client({ ...target, endpoint: proxy.endpoint }, nodeHashing, { retries: 3, baseDelayMs: 5 });
      const err = await c.put("retry/never", "x").catch((e) => e);
      expect(err).toMatchObject({ code: "S3_UNAVAILABLE", retryable: true });
      expect(err.message).toMatch(/SlowDown.*gave up after 4 attempts/);
      expect(proxy.seen.length).toBe(4);
    } finally {
      await proxy.stop();
    }
  });

  it("has a body corrupted in transit rejected by the store as S3_INTEGRITY, through the signed Content-MD5", async () => {
    const proxy = await frontProxy({ corruptBodies: true });
    try {
      const c = new S3Client({ ...target, endpoint: proxy.endpoint }, nodeHashing, { baseDelayMs: 5 });
      await expect(c.put("corrupt/obj", new Uint8Array(randomBytes(1000)))).rejects.toMatchObject({ code: "S3_INTEGRITY" });
      expect(proxy.seen.length).toBe(1);
      expect(await client.head("corrupt/obj")).toBeNull();
      expect(proxy.seen[0].headers.authorization).toMatch(/SignedHeaders=[^,]*content-md5/);
    } finally {
      await proxy.stop();
    }
  });

  it("has a streamed body of several pieces corrupted in transit rejected as S3_INTEGRITY too: its Content-MD5 covers the pieces in order", async () => {
    const proxy = await frontProxy({ corruptBodies: true });
    try {
      const c = new S3Client({ ...target, endpoint: proxy.endpoint }, nodeHashing, { baseDelayMs: 5, streamBodies: true });
      const pieces = [new Uint8Array(randomBytes(700)), new Uint8Array(randomBytes(300))];
      await expect(c.put("corrupt/streamed", pieces)).rejects.toMatchObject({ code: "S3_INTEGRITY" });
      expect(await client.head("corrupt/streamed")).toBeNull();
      // Uncorrupted, the same pieces are stored as their concatenation.
      await new S3Client(target, nodeHashing, { streamBodies: true }).put("corrupt/streamed", pieces);
      expect(equalBytes(await bytesOf((await client.get("corrupt/streamed")).body), concatBytes(pieces))).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it("reports a store that refuses a streamed part before reading its body, and hangs up, as S3_FORBIDDEN without retrying", async () => {
    let requests = 0;
    const server = http.createServer((req, res) => {
      requests++;
      res.writeHead(403, { "content-type": "application/xml", connection: "close" });
      res.end('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      req.socket.destroySoon();
    });
    const store = await listen(server);
    try {
      const c = new S3Client({ ...target, endpoint: store.endpoint }, nodeHashing, { streamBodies: true, baseDelayMs: 5 });
      const err = await c.uploadPart("denied/object", "upload-1", 1, [new Uint8Array(8 << 20), new Uint8Array(1 << 20)]).catch((e) => e);
      expect(err).toMatchObject({ code: "S3_FORBIDDEN", retryable: false });
      expect(err.message).toMatch(/UploadPart 1 .*AccessDenied/);
      expect(requests).toBe(1);
    } finally {
      await store.stop();
    }
  });

  it("never sends an x-amz-checksum header, and sends Content-MD5 with every body", async () => {
    const proxy = await frontProxy();
    try {
      const c = new S3Client({ ...target, endpoint: proxy.endpoint }, nodeHashing);
      await c.put("hdr/obj", "x");
      await bytesOf((await c.get("hdr/obj")).body);
      await c.head("hdr/obj");
      for await (const _ of c.list("hdr/")) void _;
      const id = await c.createMultipart("hdr/mp");
      const etag = await c.uploadPart("hdr/mp", id, 1, new Uint8Array(100));
      await c.completeMultipart("hdr/mp", id, [{ partNumber: 1, etag }]);
      const id2 = await c.createMultipart("hdr/mp2");
      await c.abortMultipart("hdr/mp2", id2);
      for await (const _ of c.listMultipartUploads("hdr/")) void _;
      await c.delete("hdr/obj");
      expect(proxy.seen.length).toBe(11);
      for (const s of proxy.seen) {
        expect(
          Object.keys(s.headers).filter((k) => k.startsWith("x-amz-checksum")),
          `${s.method} ${s.url}`,
        ).toEqual([]);
        if (s.method === "PUT" || (s.method === "POST" && s.url.includes("uploadId="))) expect(s.headers["content-md5"], `${s.method} ${s.url}`).toBeTruthy();
      }
    } finally {
      await proxy.stop();
    }
  });

  it("sends If-None-Match: * when asked; a store without conditional PUTs fails clearly and one that has the key gives S3_PRECONDITION_FAILED", async () => {
    // Swift answers 501 NotImplemented: no retry, no silent overwrite.
    const swift = await client.put("cond/obj", "x", { ifNoneMatch: true }).catch((e) => e);
    expect(swift).toMatchObject({ code: "S3_BAD_REQUEST", retryable: false });
    expect(swift.message).toContain("NotImplemented");
    expect(await client.head("cond/obj")).toBeNull();
    const exists = await scriptedServer(() => ({
      status: 412,
      body: "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>",
    }));
    try {
      const c = new S3Client({ ...target, endpoint: exists.endpoint }, nodeHashing, { baseDelayMs: 5 });
      await expect(c.put("cond/obj", "x", { ifNoneMatch: true })).rejects.toMatchObject({ code: "S3_PRECONDITION_FAILED", retryable: false });
      expect(exists.seen.map((s) => s.headers["if-none-match"])).toEqual(["*"]);
    } finally {
      await exists.stop();
    }
  });
});
