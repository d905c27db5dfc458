// Pass-through stage that reads a pg_dump custom-format archive (-Z0) as it streams and records what it holds: rows per table, sequences, objects.
import { PgsealError } from "../../../src/shared/errors.ts";
import { ByteQueue, concat, NEWLINE, TAIL_KEEP_BYTES, truncated, type RowScan } from "./byte-queue.ts";
import { BlockDigest, combineLargeObjects, PlainDigest, CONTENT_DIGEST, copyColumns, terminatorLines, type LargeObjectDigest } from "./copy-digest.ts";

export interface DumpInventory {
  archiveVersion: string;
  database: string;
  serverVersion: string;
  pgDumpVersion: string;
  /**
   * `columns`: the COPY column list as pg_dump wrote it; `sha256`/`bytes`: the digest and size of
   * the table's COPY text (copy-digest.ts). Absent in inventories made before content digests.
   */
  tables: { schema: string; name: string; rows: number; columns?: string; sha256?: string; bytes?: number }[];
  sequences: { schema: string; name: string; value: string; isCalled: boolean }[];
  largeObjects: number;
  /** TOC entries per `desc` (TABLE, INDEX, CONSTRAINT, FK CONSTRAINT, FUNCTION, VIEW, …). */
  objects: Record<string, number>;
  /** How the digests were made (CONTENT_DIGEST); absent before content digests. */
  contentDigest?: string;
  /** The archive's client_encoding: the COPY text is in it. */
  encoding?: string;
  /** Every large object's data, combined (copy-digest.ts `combineLargeObjects`). */
  largeObjectData?: { sha256: string; bytes: number; count: number };
  /** Source session settings that shape COPY text and pg_dump leaves alone; recorded by the backup, not the stage. */
  session?: { timeZone: string; byteaOutput: string };
}

// Archive versions (pg_backup_archiver.h): 1.14 added tableam (PG 14/15), 1.15 replaced the
// compression int by an algorithm byte (PG 16), 1.16 added relkind to TOC entries (PG 17, 18).
const V = (a: number, b: number) => a * 100 + b;
const MIN_VERSION = V(1, 12);
const MAX_VERSION = V(1, 16);
const BLK_DATA = 1;
const BLK_BLOBS = 3;

class ArchiveReader {
  intSize = 4;
  offSize = 8;
  readonly q: ByteQueue;
  readonly #text = new TextDecoder();
  constructor(q: ByteQueue) {
    this.q = q;
  }
  async byte(): Promise<number> {
    return (await this.q.read(1))[0];
  }
  /** int() when its bytes are already queued; undefined otherwise (then await int()). */
  intSync(): number | undefined {
    return this.q.intSync(this.intSize);
  }
  /** A sign byte, then intSize bytes, least significant first. */
  async int(): Promise<number> {
    const b = await this.q.read(1 + this.intSize);
    let v = 0;
    for (let i = this.intSize; i >= 1; i--) v = v * 256 + b[i];
    return b[0] ? -v : v;
  }
  async str(): Promise<string | null> {
    const len = await this.int();
    if (len < 0) return null;
    return this.#text.decode(await this.q.read(len));
  }
  async offset(): Promise<void> {
    await this.q.read(1 + this.offSize);
  }
}

interface TocEntry {
  desc: string;
  schema: string;
  tag: string;
  copyStmt: string;
}

async function parseArchive(r: ArchiveReader): Promise<DumpInventory> {
  const magic = new TextDecoder().decode(await r.q.read(5));
  if (magic !== "PGDMP") throw new PgsealError("DUMP_INVALID", "not a pg_dump custom-format archive (no PGDMP header)");
  const [vmaj, vmin] = [await r.byte(), await r.byte()];
  await r.byte(); // revision
  const version = V(vmaj, vmin);
  if (version < MIN_VERSION || version > MAX_VERSION) throw new PgsealError("DUMP_INVALID", `archive version ${vmaj}.${vmin} is not one pgseal reads (1.12-1.16: pg_dump 12-18)`);
  r.intSize = await r.byte();
  r.offSize = await r.byte();
  const format = await r.byte();
  if (format !== 1) throw new PgsealError("DUMP_INVALID", `archive format ${format} is not custom (-Fc)`);
  const compressed = version >= V(1, 15) ? (await r.byte()) !== 0 : (await r.int()) !== 0;
  if (compressed) throw new PgsealError("DUMP_INVALID", "the archive is compressed by pg_dump: pgseal dumps with -Z0 and counts rows in plain COPY data");
  for (let i = 0; i < 7; i++) await r.int(); // creation time
  const database = (await r.str()) ?? "";
  const serverVersion = (await r.str()) ?? "";
  const pgDumpVersion = (await r.str()) ?? "";

  const entries = new Map<number, TocEntry>();
  const objects: Record<string, number> = {};
  const sequences: DumpInventory["sequences"] = [];
  let encoding: string | undefined;
  const count = await r.int();
  for (let i = 0; i < count; i++) {
    const dumpId = await r.int();
    await r.int(); // has a data dumper
    await r.str(); // table oid
    await r.str(); // oid
    const tag = (await r.str()) ?? "";
    const desc = (await r.str()) ?? "";
    await r.int(); // section
    const defn = (await r.str()) ?? "";
    await r.str(); // drop statement
    const copyStmt = (await r.str()) ?? "";
    const schema = (await r.str()) ?? "";
    await r.str(); // tablespace
    if (version >= V(1, 14)) await r.str(); // table access method
    if (version >= V(1, 16)) await r.int(); // relkind
    await r.str(); // owner
    await r.str(); // "false": WITH OIDS, long gone
    while ((await r.str()) !== null); // dependencies
    await r.offset();
    entries.set(dumpId, { desc, schema, tag, copyStmt });
    if (desc === "ENCODING") encoding = /client_encoding = '([^']*)'/.exec(defn)?.[1];
    objects[desc] = (objects[desc] ?? 0) + 1;
    if (desc === "SEQUENCE SET") {
      const m = /setval\('(?:[^']|'')*', (-?\d+), (true|false)\)/.exec(defn);
      if (m) sequences.push({ schema, name: tag, value: m[1], isCalled: m[2] === "true" });
    }
  }

  const rows = new Map<number, number>();
  const digests = new Map<number, { sha256: string; bytes: number }>();
  const los: LargeObjectDigest[] = [];
  let largeObjects = 0;
  for (;;) {
    let type = -1;
    if (!(await r.q.take(1, (b) => (type = b[0])))) break; // the archive ends after its last data block
    const dumpId = await r.int();
    if (type === BLK_DATA) {
      const st: RowScan = { lines: 0, size: 0, done: false, tail: new Uint8Array(0), tailWhole: true, digest: new BlockDigest(r.q.stage) };
      for (;;) {
        r.q.scanRows(r.intSize, st);
        if (st.done) break;
        // A piece crossing chunk boundaries (or an int split between them) takes the slow path.
        let len = r.intSync();
        if (len === undefined) len = await r.int();
        if (len === 0) break;
        // Only the piece's end is kept, as a copy: its bytes arrive as views of chunks the source reuses.
        let end = new Uint8Array(0);
        const visit = (b: Uint8Array) => {
          for (let at = b.indexOf(NEWLINE); at !== -1; at = b.indexOf(NEWLINE, at + 1)) st.lines++;
          st.size += b.length;
          st.digest.add(b);
          const joined = b.length >= TAIL_KEEP_BYTES ? b : concat(end, b);
          end = joined.slice(Math.max(0, joined.length - TAIL_KEEP_BYTES));
        };
        if (!r.q.takeSync(len, visit) && !(await r.q.take(len, visit))) throw truncated();
        st.tail = end;
        st.tailWhole = len <= TAIL_KEEP_BYTES;
      }
      const marker = terminatorLines(st.tail, st.tailWhole);
      rows.set(dumpId, st.lines - marker);
      // The marker is "\\." plus its newlines; the digest covers the rows only, as COPY TO STDOUT sends them.
      const markerBytes = marker > 0 ? marker + 2 : 0;
      digests.set(dumpId, { sha256: st.digest.finish(markerBytes), bytes: st.size - markerBytes });
    } else if (type === BLK_BLOBS) {
      for (let oid = await r.int(); oid !== 0; oid = await r.int()) {
        largeObjects++;
        // Large objects come in pieces of up to 16 KiB (pg_dump's lo_read buffer): one hash call each is cheap.
        const lo = new PlainDigest();
        const visit = (b: Uint8Array) => lo.add(b);
        for (;;) {
          let len = r.intSync();
          if (len === undefined) len = await r.int();
          if (len === 0) break;
          if (!r.q.takeSync(len, visit) && !(await r.q.take(len, visit))) throw truncated();
        }
        los.push({ oid, bytes: lo.bytes, sha256: lo.finish() });
      }
    } else {
      throw new PgsealError("DUMP_INVALID", `unknown data block type ${type} in the archive`);
    }
  }

  const tables: DumpInventory["tables"] = [];
  for (const [dumpId, e] of entries) {
    if (e.desc !== "TABLE DATA") continue;
    const columns = copyColumns(e.copyStmt);
    const digest = digests.get(dumpId);
    // A table without a readable column list or without data keeps its count only: the drill then reports counts, not content.
    tables.push({ schema: e.schema, name: e.tag, rows: rows.get(dumpId) ?? 0, ...(columns !== null && digest ? { columns, ...digest } : {}) });
  }
  const content = encoding ? { contentDigest: CONTENT_DIGEST, encoding, largeObjectData: combineLargeObjects(los) } : {};
  return { archiveVersion: `${vmaj}.${vmin}`, database, serverVersion, pgDumpVersion, tables, sequences, largeObjects, objects, ...content };
}

/**
 * The stage passes every chunk on unchanged. `result` settles when the input ends; a parse problem
 * only rejects `result` (the backup goes on), and the stage never waits for a parser that gave up.
 */
export function dumpInventory(): { stage: TransformStream<Uint8Array, Uint8Array>; result: Promise<DumpInventory> } {
  const q = new ByteQueue();
  let failed = false;
  const result = parseArchive(new ArchiveReader(q)).catch((e: unknown) => {
    failed = true;
    q.abandon();
    throw e instanceof PgsealError ? e : new PgsealError("DUMP_INVALID", `the pg_dump archive could not be read: ${e instanceof Error ? e.message : String(e)}`);
  });
  result.catch(() => {});
  const stage = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      controller.enqueue(chunk);
      if (failed) return;
      await q.push(chunk);
      // From here on nothing in the inventory points into `chunk`: the source may reuse its buffer.
      q.compact();
    },
    flush() {
      q.end();
    },
  });
  return { stage, result };
}
