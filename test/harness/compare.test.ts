// Tests of the seed fixture and the database fingerprint: equal data compares equal, one changed byte does not.
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprint, type DbFingerprint } from "./compare.ts";
import { startPostgres, type PgCluster } from "./postgres.ts";

const SEED_SQL = new URL("../fixtures/seed.sql", import.meta.url).pathname;

let pg: PgCluster;
let seeded: DbFingerprint;

beforeAll(async () => {
  pg = await startPostgres({ name: "compare" });
  await pg.createDatabase("seed_a");
  await pg.psqlFile(SEED_SQL, "seed_a");
  seeded = await fingerprint(pg, "seed_a");
});

afterAll(async () => {
  await pg?.stop();
});

/** A fresh copy of seed_a to mutate (CREATE DATABASE … TEMPLATE copies it file by file). */
let copies = 0;
async function copyOfSeed(): Promise<string> {
  const name = `copy_${++copies}`;
  await pg.psql(`CREATE DATABASE ${name} TEMPLATE seed_a`);
  return name;
}

/** pg_dump -Fc of one database piped straight into pg_restore of another. */
function dumpInto(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const dump = spawn(pg.tools.pg_dump, ["-Fc", "-d", pg.urlFor(from)], { stdio: ["ignore", "pipe", "pipe"] });
    const restore = spawn(pg.tools.pg_restore, ["--exit-on-error", "-d", pg.urlFor(to)], { stdio: ["pipe", "ignore", "pipe"] });
    dump.stdout.pipe(restore.stdin);
    let errors = "";
    dump.stderr.on("data", (d: Buffer) => (errors += d));
    restore.stderr.on("data", (d: Buffer) => (errors += d));
    let pending = 2;
    const done = (code: number | null): void => {
      if (code !== 0) reject(new Error(`dump/restore failed: ${errors}`));
      else if (--pending === 0) resolve();
    };
    dump.on("close", done);
    restore.on("close", done);
  });
}

describe("the seed fixture", () => {
  it("covers every table kind the fingerprint should see: other schemas, quoted names, partitions, large objects", () => {
    expect(Object.keys(seeded.tables)).toEqual(
      expect.arrayContaining([
        `"Accounting"."Ledger Entries"`,
        "inventory.products",
        `public."Order Items"`,
        `public."it's ""quoted"""`,
        "public.measurements_2023",
        "public.measurements_2024",
        "public.measurements_other",
        "public.empty_table",
        "public.scratch",
      ]),
    );
    expect(seeded.tables["public.events"].rows).toBe(6000);
    expect(seeded.tables["public.empty_table"].rows).toBe(0);
    expect(seeded.tables["public.measurements_2023"].rows).toBeGreaterThan(0);
    expect(seeded.tables["public.measurements_other"].rows).toBeGreaterThan(0);
    expect(seeded.sequences["public.big_seq"]).toEqual({ lastValue: "9000000000000000000", isCalled: true });
    expect(seeded.sequences["public.fresh_seq"]).toEqual({ lastValue: "42", isCalled: false });
    expect(Object.keys(seeded.largeObjects).sort()).toEqual(["424242", "424243"]);
    expect(seeded.counts).toMatchObject({ views: 3, matviews: 1, triggers: 1 });
    expect(seeded.counts.functions).toBeGreaterThanOrEqual(3);
  });

  it("loads to the same content every time (no random(), no now())", async () => {
    await pg.createDatabase("seed_b");
    await pg.psqlFile(SEED_SQL, "seed_b");
    expect(await fingerprint(pg, "seed_b")).toEqual(seeded);
  });

  it("survives pg_dump -Fc | pg_restore with an identical fingerprint", async () => {
    await pg.createDatabase("restored");
    await dumpInto("seed_a", "restored");
    expect(await fingerprint(pg, "restored")).toEqual(seeded);
  });
});

describe("fingerprint", () => {
  it("changes when one byte of one text value changes, in that table only", async () => {
    const db = await copyOfSeed();
    expect(await fingerprint(pg, db)).toEqual(seeded);
    await pg.psql(`UPDATE events SET body = overlay(body placing 'X' from 5 for 1) WHERE id = 4321`, db);
    const changed = await fingerprint(pg, db);
    expect(changed).not.toEqual(seeded);
    expect(changed.tables["public.events"].rows).toBe(6000);
    const differing = Object.keys(seeded.tables).filter((t) => seeded.tables[t].sha256 !== changed.tables[t].sha256);
    expect(differing).toEqual(["public.events"]);
  });

  it("changes when one byte of a bytea value, a numeric in a quoted-name schema, or a large object changes", async () => {
    const db = await copyOfSeed();
    await pg.psql(`UPDATE blobs SET data = set_byte(data, 3, get_byte(data, 3) # 1) WHERE id = 5`, db);
    expect((await fingerprint(pg, db)).tables["public.blobs"]).not.toEqual(seeded.tables["public.blobs"]);

    const db2 = await copyOfSeed();
    await pg.psql(`UPDATE "Accounting"."Ledger Entries" SET "Amount" = "Amount" + 0.01 WHERE id = 777`, db2);
    const fp2 = await fingerprint(pg, db2);
    expect(fp2.tables[`"Accounting"."Ledger Entries"`]).not.toEqual(seeded.tables[`"Accounting"."Ledger Entries"`]);

    const db3 = await copyOfSeed();
    await pg.psql(`SELECT lo_put(424242, 100000, '\\x00')`, db3);
    const fp3 = await fingerprint(pg, db3);
    expect(fp3.largeObjects["424242"]).not.toBe(seeded.largeObjects["424242"]);
    expect(fp3.tables).toEqual(seeded.tables);
  });

  it("changes when a sequence moves or is_called flips, and when an index is dropped", async () => {
    const db = await copyOfSeed();
    await pg.psql(`SELECT setval('fresh_seq', 42, true)`, db);
    expect((await fingerprint(pg, db)).sequences["public.fresh_seq"]).toEqual({ lastValue: "42", isCalled: true });
    await pg.psql(`SELECT nextval('inventory.batch_seq'); DROP INDEX orders_unpaid`, db);
    const fp = await fingerprint(pg, db);
    expect(fp.sequences["inventory.batch_seq"].lastValue).toBe("1005");
    expect(fp.counts.indexes).toBe(seeded.counts.indexes - 1);
  });
});
