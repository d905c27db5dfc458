// The Node pipeline stages on their own: pg_dump source, compression, pg_restore sink, against a real cluster.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findPgTools } from "../container/src/pg-tools.ts";
import { countUserObjects, inspectSource } from "../container/src/preflight.ts";
import { coalescedSource, openFifo } from "../container/src/stages/coalesce.ts";
import { compressStage, decompressStage, GZIP_BLOCK_BYTES } from "../container/src/stages/compress.ts";
import { pgDumpSource } from "../container/src/stages/pg-dump.ts";
import { pgRestoreSink } from "../container/src/stages/pg-restore.ts";
import { concatBytes, equalBytes } from "../src/shared/bytes.ts";
import { PgsealError } from "../src/shared/errors.ts";
import { parsePgUrl } from "../src/shared/pg-url.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";

let pg: PgCluster;
let srcUrl: string;

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  return concatBytes(parts);
}

function streamOf(bytes: Uint8Array, chunk = 7919): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= bytes.length) return c.close();
      c.enqueue(bytes.subarray(o, (o += chunk)));
    },
  });
}

beforeAll(async () => {
  pg = await startPostgres();
  srcUrl = await pg.createDatabase("stages");
  await pg.psql(
    `create table "Mixed Case"(id int primary key, t text); insert into "Mixed Case" select g, repeat('x', g % 50) from generate_series(1, 5000) g; create schema s2; create table s2.other(v int);`,
    "stages",
  );
});

afterAll(async () => {
  await pg?.stop();
});

describe("pg_dump source", () => {
  it("streams a custom-format archive with pg_dump's compression off and names each table as it is dumped", async () => {
    const tools = await findPgTools();
    const tables: string[] = [];
    const src = pgDumpSource({ tools, conn: parsePgUrl(srcUrl), onTable: (t) => tables.push(t) });
    const bytes = await collect(src.readable);
    expect(new TextDecoder().decode(bytes.subarray(0, 5))).toBe("PGDMP");
    expect(tables.sort()).toEqual(["public.Mixed Case", "s2.other"]);
    // -Z0: COPY data is stored as plain text inside the archive.
    expect(Buffer.from(bytes).includes("4999\txxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")).toBe(true);
  });

  it("errors the stream with PG_AUTH_FAILED instead of closing it when pg_dump cannot log in", async () => {
    const tools = await findPgTools();
    const bad = srcUrl.replace(`:${encodeURIComponent(pg.password)}@`, ":nope-not-it@");
    const src = pgDumpSource({ tools, conn: parsePgUrl(bad) });
    const err = await collect(src.readable).catch((e) => e);
    expect(err).toBeInstanceOf(PgsealError);
    expect(err).toMatchObject({ code: "PG_AUTH_FAILED" });
    expect(err.message).not.toContain("nope-not-it");
  });

  it("errors the stream with the given reason when killed mid-dump", async () => {
    const tools = await findPgTools();
    // ~16 MB of rows: the source buffers about 1 MiB ahead of its reader, so after one read pg_dump is
    // certainly still running, blocked on the pipe. A small dump could end before the kill and close cleanly.
    const bigUrl = await pg.createDatabase("stages_big");
    await pg.psql(`create table big(id int, t text); insert into big select g, repeat('y', 150) from generate_series(1, 100000) g;`, "stages_big");
    const src = pgDumpSource({ tools, conn: parsePgUrl(bigUrl) });
    const reader = src.readable.getReader();
    await reader.read();
    src.kill(new PgsealError("CANCELLED", "stop"));
    let err: unknown;
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "CANCELLED" });
  });
});

describe("zstd compression", () => {
  it("keeps nothing of a chunk once its write resolved: chunks overwritten right after still decompress to the original", async () => {
    // The backup hands a chunk's buffer back to pg_dump's reader then (ChunkPool), to be filled again.
    const words = Array.from({ length: 400_000 }, (_, i) => `${i % 977}\trow ${i}\t${randomBytes(2).toString("hex")}\n`).join("");
    const original = new TextEncoder().encode(words);
    const z = compressStage("zstd");
    const out = collect(z.readable);
    const writer = z.writable.getWriter();
    // Small chunks too: a Node writable takes those into its buffer and answers before zlib has read them.
    for (let o = 0, n = 4000; o < original.length; o += n, n = n === 4000 ? 512 * 1024 : 4000) {
      const chunk = original.slice(o, o + n);
      await writer.write(chunk);
      chunk.fill(0xa5);
    }
    await writer.close();
    const back = await collect(streamOf(await out).pipeThrough(decompressStage("zstd")));
    expect(equalBytes(back, original)).toBe(true);
  });
});

describe("preflight", () => {
  it("refuses a pg_dump older than the server, naming both versions", async () => {
    const tools = await findPgTools();
    // The real psql and server; only the pg_dump version is claimed older, as on a host with old client tools.
    const old = { ...tools, major: tools.major - 1, version: `${tools.major - 1}.9` };
    const err = await inspectSource(old, parsePgUrl(srcUrl)).catch((e) => e);
    expect(err).toMatchObject({ code: "PG_DUMP_TOO_OLD" });
    expect(err.message).toContain(`pg_dump ${tools.major - 1}.9 is older than the server (PostgreSQL ${tools.version}`);
    expect(err.message).toContain(`install PostgreSQL ${tools.major} client tools or newer`);
  });

  it("reports the server version and database size and counts user objects", async () => {
    const tools = await findPgTools();
    const info = await inspectSource(tools, parsePgUrl(srcUrl));
    expect(info.serverMajor).toBe(tools.major);
    expect(info.sizeBytes).toBeGreaterThan(1_000_000);
    // Tables, views, sequences and large objects count; indexes do not.
    expect(await countUserObjects(tools, parsePgUrl(srcUrl))).toBe(2);
  });
});

describe("glued child output", () => {
  const input = randomBytes(3 * 1024 * 1024 + 12_345);
  const runCat = (stdout: number | "pipe") => {
    const child = spawn("cat", [], { stdio: ["pipe", stdout, "ignore"] });
    const exited = new Promise<void>((resolve, reject) => child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`cat exited ${code}`)))));
    child.stdin!.end(input);
    return { child, exited };
  };

  it("hands a pipe's small reads on as full chunks, byte for byte, and closes once the process succeeded", async () => {
    const { child, exited } = runCat("pipe");
    const chunks: Uint8Array[] = [];
    for await (const c of coalescedSource(child.stdout!, exited, 1024 * 1024)) chunks.push(c);
    expect(chunks.slice(0, -1).every((c) => c.length === 1024 * 1024)).toBe(true);
    expect(equalBytes(concatBytes(chunks), input)).toBe(true);
  });

  it("reads a FIFO into the same chunks, and errors instead of closing when the process failed", async () => {
    const fifo = openFifo();
    expect(fifo).not.toBeNull();
    const { exited } = runCat(fifo!.writeFd);
    fifo!.closeWriter();
    const chunks: Uint8Array[] = [];
    for await (const c of fifo!.readable(exited, 1024 * 1024)) chunks.push(c);
    expect(chunks.length).toBe(4);
    expect(equalBytes(concatBytes(chunks), input)).toBe(true);

    const failing = openFifo()!;
    const child = spawn("sh", ["-c", "head -c 100000 /dev/zero; exit 3"], { stdio: ["ignore", failing.writeFd, "ignore"] });
    failing.closeWriter();
    const failed = new Promise<void>((resolve, reject) => child.on("close", (code) => (code === 0 ? resolve() : reject(new PgsealError("PG_DUMP_FAILED", `exit ${code}`)))));
    const err = await collect(failing.readable(failed)).catch((e) => e);
    expect(err).toBeInstanceOf(PgsealError);
  });

  it("fails the stream, and goes on quietly, when output is still in the FIFO after the process failed", async () => {
    const fifo = openFifo()!;
    // 60 KiB fits in the FIFO: the child can exit (failing) before a byte of it was read.
    const child = spawn("sh", ["-c", "head -c 61440 /dev/zero; exit 3"], { stdio: ["ignore", fifo.writeFd, "ignore"] });
    fifo.closeWriter();
    const failed = new Promise<void>((resolve, reject) => child.on("close", (code) => (code === 0 ? resolve() : reject(new PgsealError("PG_DUMP_FAILED", `exit ${code}`)))));
    await failed.catch(() => {}); // the child is meant to fail: this only waits for its exit before reading
    // Reading starts only now, with 16 KiB chunks: three would be complete after the stream failed.
    const err = await collect(fifo.readable(failed, 16 * 1024)).catch((e) => e);
    expect(err).toBeInstanceOf(PgsealError);
    await new Promise((r) => setTimeout(r, 100)); // an enqueue into the failed stream would throw here, uncaught
  });
});

describe.each(["zstd", "gzip"] as const)("%s compression stage", (algorithm) => {
  it("round-trips bytes exactly and actually compresses", async () => {
    const input = concatBytes([randomBytes(300_000), new Uint8Array(2_000_000).fill(65)]);
    const packed = await collect(streamOf(input).pipeThrough(compressStage(algorithm)));
    expect(packed.length).toBeLessThan(input.length / 2);
    const unpacked = await collect(streamOf(packed, 1013).pipeThrough(decompressStage(algorithm)));
    expect(equalBytes(unpacked, input)).toBe(true);
  });

  it("turns empty input into a stream that decompresses to nothing", async () => {
    const packed = await collect(streamOf(new Uint8Array(0)).pipeThrough(compressStage(algorithm)));
    expect(packed.length).toBeGreaterThan(0);
    expect((await collect(streamOf(packed).pipeThrough(decompressStage(algorithm)))).length).toBe(0);
  });

  it("writes a standard stream that the command-line tool decompresses whole", async () => {
    const input = concatBytes([randomBytes(1_500_000), new Uint8Array(3_000_000).fill(66), randomBytes(10)]);
    const packed = await collect(streamOf(input, 65_536).pipeThrough(compressStage(algorithm)));
    const out = spawnSync(algorithm, ["-d", "-c"], { input: packed, maxBuffer: 64 << 20 });
    expect(out.status).toBe(0);
    expect(equalBytes(new Uint8Array(out.stdout), input)).toBe(true);
  });
});

describe("gzip members", () => {
  it("round-trip exactly over many members, whose input blocks are filled again once compressed", async () => {
    // 12 MiB: twelve 1 MiB members, four compressing at a time, so blocks are reused from the fifth on.
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 12; i++) parts.push(randomBytes(300_000), new TextEncoder().encode(`member ${i} `.repeat(70_000)).subarray(0, 748_576));
    const input = concatBytes(parts);
    const packed = await collect(streamOf(input, 200_000).pipeThrough(compressStage("gzip")));
    const out = spawnSync("gzip", ["-d", "-c"], { input: packed, maxBuffer: 64 << 20 });
    expect(out.status).toBe(0);
    expect(equalBytes(new Uint8Array(out.stdout), input)).toBe(true);
    // Reset deflate contexts write each member exactly as a fresh one would: the same bytes as gzip -6 of each MiB alone.
    const fresh = [];
    for (let o = 0; o < input.length; o += GZIP_BLOCK_BYTES) fresh.push(gzipSync(input.subarray(o, o + GZIP_BLOCK_BYTES), { level: 6 }));
    expect(equalBytes(packed, concatBytes(fresh))).toBe(true);
  });
});

describe("pg_restore sink", () => {
  it("rolls the whole restore back when its input stream is aborted", async () => {
    const tools = await findPgTools();
    const dump = await collect(pgDumpSource({ tools, conn: parsePgUrl(srcUrl) }).readable);
    const targetUrl = await pg.createDatabase("sink_target");
    const sink = pgRestoreSink(tools, parsePgUrl(targetUrl));
    const writer = sink.writable.getWriter();
    await writer.write(dump.subarray(0, dump.length - 100));
    await writer.abort(new PgsealError("ARTIFACT_CORRUPT", "simulated"));
    await expect(sink.done).rejects.toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(await countUserObjects(tools, parsePgUrl(targetUrl))).toBe(0);
  });

  it("restores a whole archive and reports no warnings", async () => {
    const tools = await findPgTools();
    const dump = await collect(pgDumpSource({ tools, conn: parsePgUrl(srcUrl) }).readable);
    const targetUrl = await pg.createDatabase("sink_ok");
    const sink = pgRestoreSink(tools, parsePgUrl(targetUrl));
    await streamOf(dump).pipeTo(sink.writable);
    expect(await sink.done).toEqual({ warnings: [], errors: [] });
    expect(await pg.psql(`select count(*) from "Mixed Case"`, "sink_ok")).toBe("5000");
  });
});
