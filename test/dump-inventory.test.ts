// The dump inventory stage against real pg_dump archives: exact rows per table, byte-exact pass-through, and refusals that never block the bytes.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dumpInventory, type DumpInventory } from "../container/src/stages/dump-inventory.ts";
import { tableCounts } from "./harness/compare.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";

const SEED_SQL = new URL("./fixtures/seed.sql", import.meta.url).pathname;
let pg: PgCluster;
let seedDump: Uint8Array;

function pgDump(db: string, ...extra: string[]): Uint8Array {
  const r = spawnSync(pg.tools.pg_dump, ["-Fc", ...extra, "-d", pg.urlFor(db)], { maxBuffer: 1 << 30, env: { PATH: process.env.PATH ?? "" } });
  if (r.status !== 0) throw new Error(`pg_dump failed: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

/** Streams `bytes` through the stage in chunks of the given sizes; returns what came out and the inventory (or its error). */
async function run(bytes: Uint8Array, chunkSizes: () => number): Promise<{ out: Uint8Array; inventory: DumpInventory | Error }> {
  const inv = dumpInventory();
  let at = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) return c.close();
      const n = Math.min(bytes.length - at, Math.max(1, chunkSizes()));
      c.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
  const out = new Uint8Array(await new Response(source.pipeThrough(inv.stage)).arrayBuffer());
  return { out, inventory: await inv.result.catch((e: Error) => e) };
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  pg = await startPostgres({ name: "inventory" });
  await pg.createDatabase("seeded");
  await pg.psqlFile(SEED_SQL, "seeded");
  seedDump = pgDump("seeded", "-Z0");
});

afterAll(async () => {
  await pg?.stop();
});

describe("dumpInventory on the seed database", () => {
  it("counts every table's rows exactly, and reads sequences, large objects and object kinds", async () => {
    const { inventory } = await run(seedDump, () => 64 * 1024);
    if (inventory instanceof Error) throw inventory;
    expect(Object.fromEntries(inventory.tables.map((t) => [`${t.schema}.${t.name}`, t.rows]))).toEqual(await tableCounts(pg, "seeded"));
    expect(inventory.archiveVersion).toMatch(/^1\.1[2-6]$/);
    expect(inventory.largeObjects).toBe(Number(await pg.psql("select count(*) from pg_largeobject_metadata", "seeded")));
    const seqs = (await pg.psql("select format('%s.%s', schemaname, sequencename) || ' ' || coalesce(last_value::text, '') from pg_sequences order by 1", "seeded")).split("\n");
    for (const line of seqs) {
      const [name, value] = line.split(" ");
      const found = inventory.sequences.find((s) => `${s.schema}.${s.name}` === name);
      if (value) expect(found?.value, name).toBe(value);
    }
    expect(inventory.objects.VIEW).toBe(Number(await pg.psql("select count(*) from pg_views where schemaname not in ('pg_catalog','information_schema')", "seeded")));
  });

  it("digests each table's COPY text exactly as COPY TO STDOUT sends it, whatever the chunking", async () => {
    const whole = await run(seedDump, () => 1 << 20);
    if (whole.inventory instanceof Error) throw whole.inventory;
    const customers = whole.inventory.tables.find((t) => t.name === "customers")!;
    const copy = spawnSync(pg.tools.psql, ["-X", "-q", "-d", pg.urlFor("seeded"), "-c", `SET DateStyle = ISO; SET extra_float_digits = 3; COPY public.customers ${customers.columns} TO STDOUT`], {
      env: { PATH: process.env.PATH ?? "" },
    });
    expect(customers.columns).toBe("(id, name, email, mood, note, home, created_at)");
    expect(customers.bytes).toBe(copy.stdout.length);
    expect(customers.sha256).toBe(sha(new Uint8Array(copy.stdout)));
    for (const sizes of [() => 1 + Math.floor(Math.random() * 512), () => 1 + Math.floor(Math.random() * 70_000)]) {
      const { inventory } = await run(seedDump, sizes);
      if (inventory instanceof Error) throw inventory;
      expect(inventory.tables).toEqual(whole.inventory.tables);
      expect(inventory.largeObjectData).toEqual(whole.inventory.largeObjectData);
    }
  });

  it("keeps nothing of a chunk once its write resolved: overwriting every chunk right after gives the same inventory", async () => {
    // The backup hands a chunk's buffer back to pg_dump's reader then (ChunkPool), to be filled again.
    const reference = await run(seedDump, () => 64 * 1024);
    if (reference.inventory instanceof Error) throw reference.inventory;
    for (const size of [7919, 64 * 1024, 512 * 1024]) {
      const inv = dumpInventory();
      const reader = inv.stage.readable.getReader();
      const drained = (async () => {
        while (!(await reader.read()).done);
      })();
      const writer = inv.stage.writable.getWriter();
      for (let o = 0; o < seedDump.length; o += size) {
        const chunk = seedDump.slice(o, o + size);
        await writer.write(chunk);
        chunk.fill(0xa5);
      }
      await writer.close();
      await drained;
      expect(await inv.result, `chunks of ${size} bytes`).toEqual(reference.inventory);
    }
  });

  it("passes every byte through unchanged, in one-byte chunks and in random ones", async () => {
    // One-byte chunks cost an await per byte: a few awkward tables and the large objects, not all of public (it ran past the timeout under load).
    const tiny = pgDump("seeded", "-Z0", "-b", "--table=public.customers", "--table=public.blobs", '--table=public."MixedCase"');
    const small = pgDump("seeded", "-Z0", "--table=public.*");
    for (const [dump, sizes] of [
      [tiny, () => 1],
      [small, () => Math.floor(Math.random() * 5000)],
    ] as const) {
      const { out, inventory } = await run(dump, sizes);
      expect(sha(out)).toBe(sha(dump));
      expect(inventory).not.toBeInstanceOf(Error);
    }
  });
});

describe("dumpInventory on awkward and broken input", () => {
  it("counts rows with escaped newlines and backslashes, empty tables, and a large table exactly", async () => {
    await pg.createDatabase("awkward");
    await pg.psql(
      `create table lines(t text); insert into lines values (E'a\\nb'), (E'back\\\\slash'), (E'\\\\.'), ('.'), (''), (null);
       create table empty(id int);
       create table big(id int); insert into big select generate_series(1, 200000);`,
      "awkward",
    );
    const { inventory } = await run(pgDump("awkward", "-Z0"), () => 256 * 1024);
    if (inventory instanceof Error) throw inventory;
    expect(Object.fromEntries(inventory.tables.map((t) => [t.name, t.rows]))).toEqual({ big: 200000, empty: 0, lines: 6 });
  });

  it("counts and digests rows longer than the digest stage, and a whole archive handed over as one chunk larger than the scan window", async () => {
    await pg.createDatabase("wide");
    await pg.psql(
      `create table wide(id int, t text); insert into wide select g, repeat(E'ab\\ncd\\t', 20000 + g) from generate_series(1, 12) g;
       create table narrow(id int, t text); insert into narrow select g, md5(g::text) from generate_series(1, 120000) g;`,
      "wide",
    );
    const dump = pgDump("wide", "-Z0");
    expect(dump.length).toBeGreaterThan(5 * 1024 * 1024); // more than twice the row scan's 2 MiB window
    for (const sizes of [() => dump.length, () => 1 + Math.floor(Math.random() * 3_000_000)]) {
      const { inventory } = await run(dump, sizes);
      if (inventory instanceof Error) throw inventory;
      for (const table of ["wide", "narrow"]) {
        const t = inventory.tables.find((x) => x.name === table)!;
        const copy = spawnSync(pg.tools.psql, ["-X", "-q", "-d", pg.urlFor("wide"), "-c", `COPY public.${table} ${t.columns} TO STDOUT`], {
          maxBuffer: 1 << 30,
          env: { PATH: process.env.PATH ?? "" },
        });
        expect(t.rows, table).toBe(table === "wide" ? 12 : 120000);
        expect(t.bytes, table).toBe(copy.stdout.length);
        expect(t.sha256, table).toBe(sha(new Uint8Array(copy.stdout)));
      }
    }
  });

  it("rejects a truncated archive and a pg_dump-compressed one, while still passing every byte", async () => {
    const cut = seedDump.slice(0, Math.floor(seedDump.length * 0.6));
    const truncated = await run(cut, () => 10_000);
    expect(sha(truncated.out)).toBe(sha(cut));
    expect(truncated.inventory).toMatchObject({ code: "DUMP_INVALID" });

    const compressed = pgDump("seeded", "-Z6");
    const z = await run(compressed, () => 10_000);
    expect(sha(z.out)).toBe(sha(compressed));
    expect(z.inventory).toMatchObject({ code: "DUMP_INVALID", message: expect.stringMatching(/compressed by pg_dump/) });

    const junk = await run(new TextEncoder().encode("not a dump at all"), () => 4);
    expect(junk.inventory).toMatchObject({ code: "DUMP_INVALID", message: expect.stringMatching(/PGDMP/) });
  });
});
