// The multipart upload sink (fixed parts, bounded concurrency, backpressure, abort on failure) and choosePartSize.
import { createHash, randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { equalBytes } from "../src/shared/bytes.ts";
import { choosePartSize, createUploadSink, DEFAULT_PART_BYTES, MAX_PART_BYTES, type UploadProgress } from "../src/shared/s3/multipart.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { startDiscardS3, type DiscardOptions } from "./harness/discard-s3.ts";
import { startRecordingProxy } from "./harness/recording-proxy.ts";
import { useS3 } from "./harness/use-s3.ts";

const MiB = 1024 * 1024;
const PART = 5 * MiB;
let target: S3Target;
let client: S3Client;

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The bytes in pseudo-random chunk sizes from 1 byte to 700 KiB. */
function chunked(bytes: Uint8Array, seed = 7): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= bytes.length) return c.close();
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      c.enqueue(bytes.subarray(o, (o += 1 + (seed % (700 * 1024)))));
    },
  });
}

/** Never ends on its own: only a sink that errors can stop a pipe from it. */
function endless(): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull: (c) => c.enqueue(new Uint8Array(MiB)),
    cancel: () => void (cancelled = true),
  });
  return { stream, cancelled: () => cancelled };
}

async function openUploads(prefix: string): Promise<string[]> {
  const keys = [];
  for await (const u of client.listMultipartUploads(prefix)) keys.push(u.key);
  return keys;
}

async function withDiscard<T>(opts: DiscardOptions, fn: (c: S3Client, d: Awaited<ReturnType<typeof startDiscardS3>>) => Promise<T>): Promise<T> {
  const discard = await startDiscardS3(opts);
  try {
    return await fn(new S3Client({ ...target, endpoint: discard.endpoint }, nodeHashing, { retries: 1, baseDelayMs: 5 }), discard);
  } finally {
    await discard.stop();
  }
}

beforeAll(async () => {
  const s3 = useS3();
  target = { endpoint: s3.endpoint, bucket: await s3.createBucket("multipart"), region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  client = new S3Client(target, nodeHashing);
});

describe("multipart upload sink", () => {
  it("uploads ~23 MiB from random chunk sizes as 5 MiB parts in order, byte-exact, with progress", async () => {
    const body = new Uint8Array(randomBytes(23 * MiB + 12_345));
    const progress: UploadProgress[] = [];
    const sink = createUploadSink(client, "mp/object", { partSize: PART, concurrency: 3, onProgress: (p) => progress.push(p) });
    await chunked(body).pipeTo(sink.writable);
    const r = await sink.result;
    expect(r).toMatchObject({ bytes: body.length, parts: 5, partSize: PART });
    // Swift's multipart ETag is md5(md5(part 1) … md5(part n))-n: it proves the part boundaries.
    const md5s = [];
    for (let o = 0; o < body.length; o += PART)
      md5s.push(
        createHash("md5")
          .update(body.subarray(o, o + PART))
          .digest(),
      );
    expect(r.etag).toBe(`"${createHash("md5").update(Buffer.concat(md5s)).digest("hex")}-5"`);
    expect(equalBytes(await bytesOf((await client.get("mp/object")).body), body)).toBe(true);
    expect(progress.at(-1)).toEqual({ bytesUploaded: body.length, partsDone: 5 });
    expect(progress.map((p) => p.partsDone)).toEqual([1, 2, 3, 4, 5]);
  });

  it("sends every part but the last at exactly the part size", async () => {
    await withDiscard({}, async (c, discard) => {
      const sink = createUploadSink(c, "sizes/object", { partSize: PART, concurrency: 4 });
      await chunked(new Uint8Array(17 * MiB + 3), 11).pipeTo(sink.writable);
      expect(await sink.result).toMatchObject({ bytes: 17 * MiB + 3, parts: 4 });
      expect(discard.stats().partSizes.sort((a, b) => b - a)).toEqual([PART, PART, PART, 2 * MiB + 3]);
    });
  });

  it("keeps at most `concurrency` parts in flight and holds back writes so buffered bytes stay within partSize × (concurrency + 1)", async () => {
    await withDiscard({ partDelayMs: 40 }, async (c, discard) => {
      let uploaded = 0;
      const sink = createUploadSink(c, "bp/object", { partSize: PART, concurrency: 2, onProgress: (p) => (uploaded = p.bytesUploaded) });
      const writer = sink.writable.getWriter();
      let accepted = 0;
      let maxHeld = 0;
      for (let i = 0; i < 60; i++) {
        await writer.write(new Uint8Array(MiB));
        accepted += MiB;
        maxHeld = Math.max(maxHeld, accepted - uploaded);
      }
      await writer.close();
      expect(await sink.result).toMatchObject({ parts: 12, bytes: 60 * MiB });
      expect(discard.stats().maxPartsInFlight).toBe(2);
      expect(maxHeld).toBeLessThanOrEqual(PART * 3);
      // The store is slow, so the bound was reached: the writer really waited.
      expect(maxHeld).toBeGreaterThanOrEqual(PART * 2);
    });
  });

  it("aborts the multipart upload when the input fails, leaving no upload and no object behind", async () => {
    const sink = createUploadSink(client, "abort/object", { partSize: PART });
    const writer = sink.writable.getWriter();
    await writer.write(new Uint8Array(12 * MiB));
    await writer.abort(new Error("upstream broke"));
    await expect(sink.result).rejects.toThrow(/upstream broke/);
    expect(await openUploads("abort/")).toEqual([]);
    expect(await client.head("abort/object")).toBeNull();
  });

  it("fails the pipe when a part fails after its retries, aborts the upload and never completes it", async () => {
    await withDiscard({ failAfterBytes: 7 * MiB }, async (c, discard) => {
      const source = endless();
      const sink = createUploadSink(c, "fail/object", { partSize: PART, concurrency: 2 });
      const piped = await source.stream.pipeTo(sink.writable).catch((e) => e);
      expect(piped).toMatchObject({ code: "S3_UNAVAILABLE" });
      await expect(sink.result).rejects.toMatchObject({ code: "S3_UNAVAILABLE" });
      expect(source.cancelled()).toBe(true);
      const stats = discard.stats();
      expect(stats).toMatchObject({ uploads: 1, aborted: 1, completed: 0 });
      expect(stats.resets).toBeGreaterThan(0);
    });
  });

  it("stops on its abort signal with CANCELLED and leaves no upload and no object in the store", async () => {
    const ac = new AbortController();
    const source = endless();
    const sink = createUploadSink(client, "signal/object", { partSize: PART, concurrency: 2, signal: ac.signal, onProgress: (p) => p.partsDone >= 2 && ac.abort() });
    const piped = await source.stream.pipeTo(sink.writable).catch((e) => e);
    expect(piped).toMatchObject({ code: "CANCELLED" });
    await expect(sink.result).rejects.toMatchObject({ code: "CANCELLED" });
    expect(source.cancelled()).toBe(true);
    expect(await openUploads("signal/")).toEqual([]);
    expect(await client.head("signal/object")).toBeNull();
  });

  it("fails with S3_PART_SIZE naming the part size when the parts run out, aborting the upload", async () => {
    await withDiscard({}, async (c, discard) => {
      const sink = createUploadSink(c, "toomany/object", { partSize: PART, maxParts: 3 });
      const err = await chunked(new Uint8Array(20 * MiB))
        .pipeTo(sink.writable)
        .catch((e) => e);
      expect(err).toMatchObject({ code: "S3_PART_SIZE" });
      expect(err.message).toMatch(/more than 3 parts of 5242880 bytes \(5 MiB\)/);
      await expect(sink.result).rejects.toBe(err);
      expect(discard.stats()).toMatchObject({ parts: 3, aborted: 1, completed: 0 });
    });
  });

  it("stores an object smaller than one part, and an empty one, with a single PUT", async () => {
    for (const [key, size] of [
      ["small/object", 1000],
      ["small/empty", 0],
    ] as const) {
      const body = new Uint8Array(randomBytes(size));
      const sink = createUploadSink(client, key, { partSize: PART });
      await chunked(body).pipeTo(sink.writable);
      const r = await sink.result;
      expect(r).toMatchObject({ bytes: size, parts: 1 });
      // A plain MD5 ETag (no "-n" suffix) means it was not a multipart upload.
      expect(r.etag).toBe(`"${createHash("md5").update(body).digest("hex")}"`);
      expect(equalBytes(await bytesOf((await client.get(key)).body), body)).toBe(true);
    }
    expect(await openUploads("small/")).toEqual([]);
  });

  it("uploads exactly one part size as a one-part multipart upload", async () => {
    const body = new Uint8Array(randomBytes(PART));
    const sink = createUploadSink(client, "one/object", { partSize: PART });
    await chunked(body).pipeTo(sink.writable);
    expect((await sink.result).etag).toMatch(/-1"$/);
    expect(equalBytes(await bytesOf((await client.get("one/object")).body), body)).toBe(true);
  });

  it("sends parts uncopied as streams with an exact Content-Length (never chunked), resending a whole part after a failed attempt", async () => {
    const proxy = await startRecordingProxy(target.endpoint);
    try {
      let failedOnce = false;
      const sentBuffers = new Set<ArrayBufferLike>();
      // One attempt of part 2 dies after its body started: the retry must send the part again from its first byte.
      const flaky: typeof fetch = async (input, init) => {
        const req = input as Request;
        if (req.url.includes("partNumber=1")) {
          // What fetch would send for part 1: views of the written chunks themselves, not a copy.
          const pieces: Uint8Array[] = [];
          for await (const piece of req.body!) pieces.push(piece), sentBuffers.add(piece.buffer);
          return fetch(new Request(req, { body: new Blob(pieces as Uint8Array<ArrayBuffer>[]) }), init);
        }
        if (!failedOnce && req.url.includes("partNumber=2")) {
          failedOnce = true;
          await req.body?.getReader().read();
          throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
        }
        return fetch(req, init);
      };
      const streaming = new S3Client({ ...target, endpoint: proxy.url }, nodeHashing, { streamBodies: true, fetch: flaky, baseDelayMs: 5 });
      const body = new Uint8Array(randomBytes(13 * MiB + 777));
      const sink = createUploadSink(streaming, "stream/object", { partSize: PART, concurrency: 2 });
      await chunked(body, 3).pipeTo(sink.writable);
      expect(await sink.result).toMatchObject({ bytes: body.length, parts: 3 });
      expect(failedOnce).toBe(true);
      expect([...sentBuffers]).toEqual([body.buffer]);
      const parts = proxy.requests.filter((r) => r.method === "PUT" && r.url.includes("partNumber="));
      expect(parts.map((r) => [new URL(r.url, proxy.url).searchParams.get("partNumber"), r.headers["content-length"], r.headers["transfer-encoding"]])).toEqual([
        ["1", String(PART), undefined],
        ["2", String(PART), undefined],
        ["3", String(3 * MiB + 777), undefined],
      ]);
      expect(equalBytes(await bytesOf((await client.get("stream/object")).body), body)).toBe(true);

      // A small object is one streamed PUT, with the same framing.
      const small = new Uint8Array(randomBytes(70_000));
      const one = createUploadSink(streaming, "stream/small", { partSize: PART });
      await chunked(small, 5).pipeTo(one.writable);
      expect((await one.result).etag).toBe(`"${createHash("md5").update(small).digest("hex")}"`);
      const put = proxy.requests.find((r) => r.method === "PUT" && r.url.endsWith("/stream/small"));
      expect([put?.headers["content-length"], put?.headers["transfer-encoding"]]).toEqual(["70000", undefined]);
    } finally {
      await proxy.stop();
    }
  });

  it("hands each written chunk back exactly once, only after every part holding its bytes was uploaded, and none of a part that never was", async () => {
    const uploaded = new Set<string>();
    // Notes a part (or a single PUT) as uploaded once the store answered it, before the sink learns of it.
    const noting: typeof fetch = async (input, init) => {
      const req = input as Request;
      const res = await fetch(req, init);
      if (res.ok && req.method === "PUT") uploaded.add(`${new URL(req.url).pathname}#${new URL(req.url).searchParams.get("partNumber") ?? "put"}`);
      return res;
    };
    const noted = new S3Client(target, nodeHashing, { fetch: noting });
    /** The parts (1-based) a chunk of `chunked(body)` has bytes in. */
    const partsOf = (c: Uint8Array) => [...new Set([Math.floor(c.byteOffset / PART) + 1, Math.floor((c.byteOffset + c.length - 1) / PART) + 1])];

    const body = new Uint8Array(randomBytes(12 * MiB + 5));
    const written: Uint8Array[] = [];
    const released: Uint8Array[] = [];
    const early: string[] = [];
    const sink = createUploadSink(noted, "released/object", {
      partSize: PART,
      concurrency: 2,
      released: (c) => {
        released.push(c);
        for (const p of partsOf(c)) if (!uploaded.has(`/${target.bucket}/released/object#${p}`)) early.push(`bytes ${c.byteOffset}+${c.length} before part ${p}`);
      },
    });
    await chunked(body, 11)
      .pipeThrough(new TransformStream({ transform: (c, ctl) => (written.push(c), ctl.enqueue(c)) }))
      .pipeTo(sink.writable);
    expect(await sink.result).toMatchObject({ bytes: body.length, parts: 3 });
    expect(early).toEqual([]);
    expect(
      written.some((c) => partsOf(c).length === 2),
      "some chunk straddles a part boundary",
    ).toBe(true);
    expect(new Set(released).size).toBe(released.length);
    expect(new Set(released)).toEqual(new Set(written));

    // A single PUT hands its chunks back once it is stored.
    const small = new Uint8Array(randomBytes(70_000));
    const smallReleased: Uint8Array[] = [];
    const one = createUploadSink(noted, "released/small", { partSize: PART, released: (c) => (expect(uploaded.has(`/${target.bucket}/released/small#put`)).toBe(true), smallReleased.push(c)) });
    await chunked(small, 5).pipeTo(one.writable);
    await one.result;
    expect(smallReleased.reduce((n, c) => n + c.length, 0)).toBe(small.length);

    // Input that fails halfway through part 2: part 1's own chunks come back, none with bytes in part 2.
    const failing: Uint8Array[] = [];
    const aborted = createUploadSink(noted, "released/failed", { partSize: PART, concurrency: 1, released: (c) => failing.push(c) });
    const writer = aborted.writable.getWriter();
    const half = new Uint8Array(randomBytes(PART + PART / 2));
    const pieces = [half.subarray(0, 3 * MiB), half.subarray(3 * MiB, 6 * MiB), half.subarray(6 * MiB)];
    for (const piece of pieces) await writer.write(piece);
    await writer.abort(new Error("input failed"));
    await expect(aborted.result).rejects.toThrow("input failed");
    expect(failing).toEqual([pieces[0]]);
    expect(await openUploads("released/")).toEqual([]);
  });

  it("refuses part sizes S3 would reject", () => {
    for (const partSize of [4 * MiB, PART + 0.5, MAX_PART_BYTES + MiB]) {
      expect(() => createUploadSink(client, "k", { partSize }), String(partSize)).toThrow(expect.objectContaining({ code: "S3_PART_SIZE" }));
    }
  });
});

describe("choosePartSize", () => {
  it.each([
    [undefined, DEFAULT_PART_BYTES],
    [0, DEFAULT_PART_BYTES],
    [1e6, DEFAULT_PART_BYTES],
    [2e9, DEFAULT_PART_BYTES],
    [35 * 1024 * MiB, DEFAULT_PART_BYTES],
    [36 * 1024 * MiB, 9 * MiB],
    [100e9, 22 * MiB],
    [1e12, 212 * MiB],
    [1e15, MAX_PART_BYTES],
  ])("picks for %s expected bytes a %s-byte part size, whole MiB, leaving room for 2x growth in 9,000 parts", (size, expected) => {
    const part = choosePartSize(size);
    expect(part).toBe(expected);
    expect(part % MiB).toBe(0);
    if (size && part < MAX_PART_BYTES) expect(Math.ceil((2 * size) / part)).toBeLessThanOrEqual(9_000);
  });
});
