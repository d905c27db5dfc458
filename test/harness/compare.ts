// Content fingerprint of a database: two databases with equal fingerprints hold the same data.
import { spawn } from "node:child_process";
import { createHash, type Hash } from "node:crypto";
import type { PgCluster } from "./postgres.ts";

export interface TableFingerprint {
  rows: number;
  /** sha256 (hex) of the table's COPY text output, rows in a fixed order. */
  sha256: string;
}

export interface DbFingerprint {
  /** Key: schema-qualified, quoted name (format('%I.%I')); ordinary tables and partitions. */
  tables: Record<string, TableFingerprint>;
  sequences: Record<string, { lastValue: string; isCalled: boolean }>;
  /** Large object oid -> sha256 (hex) of its bytes. */
  largeObjects: Record<string, string>;
  counts: { views: number; matviews: number; functions: number; triggers: number; indexes: number; constraints: number };
}

// Output of dates, floats and bytea depends on session settings: pin them so two sessions agree.
const SESSION_SETTINGS = `SET datestyle = 'ISO, YMD'; SET timezone = 'UTC'; SET intervalstyle = 'postgres';
SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8';`;

const USER_SCHEMA = `nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'`;
// A data line of COPY text output never starts with a backslash followed by '#': backslashes in
// values are doubled and the only escapes are \N, \\, \b, \f, \n, \r, \t, \v. So this cannot collide.
const MARKER = "\\#pgseal-table";
const ROW_ALIAS = "pgseal_fingerprint_row";

export async function fingerprint(cluster: PgCluster, db: string): Promise<DbFingerprint> {
  const q = (sql: string): Promise<string[][]> => cluster.psql(`${SESSION_SETTINGS}\n${sql}`, db).then((out) => (out === "" ? [] : out.split("\n").map((l) => l.split("|"))));

  const tables = (
    await q(`SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND ${USER_SCHEMA}`)
  )
    .map((r) => r.join("|"))
    .sort();
  const sequences = (
    await q(`SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'S' AND ${USER_SCHEMA}`)
  )
    .map((r) => r.join("|"))
    .sort();

  const seqRows = sequences.length ? await q(sequences.map((s, i) => `SELECT ${i}, last_value, is_called FROM ${s}`).join(" UNION ALL ") + " ORDER BY 1") : [];
  const los = await q(`SELECT oid, encode(sha256(lo_get(oid)), 'hex') FROM pg_largeobject_metadata ORDER BY oid`);
  const [counts] = await q(`SELECT
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v' AND ${USER_SCHEMA}),
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'm' AND ${USER_SCHEMA}),
      (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${USER_SCHEMA}),
      (SELECT count(*) FROM pg_trigger t WHERE NOT t.tgisinternal),
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('i', 'I') AND ${USER_SCHEMA}),
      (SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace WHERE ${USER_SCHEMA})`);

  return {
    tables: await hashTables(cluster, db, tables),
    sequences: Object.fromEntries(seqRows.map(([i, last, called]) => [sequences[Number(i)], { lastValue: last, isCalled: called === "t" }])),
    largeObjects: Object.fromEntries(los.map(([oid, sha]) => [oid, sha])),
    counts: {
      views: Number(counts[0]),
      matviews: Number(counts[1]),
      functions: Number(counts[2]),
      triggers: Number(counts[3]),
      indexes: Number(counts[4]),
      constraints: Number(counts[5]),
    },
  };
}

/**
 * One psql session streams every table through COPY, separated by marker lines, hashed as it
 * arrives (tables may be larger than memory). Rows are ordered by their text form in the "C"
 * collation instead of ORDER BY 1,2,…: json, point and friends have no ordering operator.
 */
async function hashTables(cluster: PgCluster, db: string, tables: string[]): Promise<Record<string, TableFingerprint>> {
  if (tables.length === 0) return {};
  const script = [
    SESSION_SETTINGS,
    ...tables.flatMap((t, i) => [`\\echo '\\\\#pgseal-table ${i}'`, `COPY (SELECT * FROM ${t} ${ROW_ALIAS} ORDER BY (${ROW_ALIAS}.*)::text COLLATE "C") TO STDOUT;`]),
  ].join("\n");
  const result: Record<string, TableFingerprint> = {};
  let current: { name: string; hash: Hash; rows: number } | undefined;
  const finish = (): void => {
    if (current) result[current.name] = { rows: current.rows, sha256: current.hash.digest("hex") };
  };
  const onLine = (line: Buffer): void => {
    const text = line.subarray(0, MARKER.length).toString("latin1");
    if (text === MARKER) {
      finish();
      const i = Number(line.subarray(MARKER.length + 1).toString("latin1"));
      current = { name: tables[i], hash: createHash("sha256"), rows: 0 };
      return;
    }
    if (!current) throw new Error(`unexpected psql output before the first table marker`);
    current.hash.update(line);
    current.hash.update("\n");
    current.rows++;
  };

  await new Promise<void>((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PG")));
    const child = spawn(cluster.tools.psql, [...cluster.psqlArgs(db), "-f", "-"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let carry = Buffer.alloc(0);
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => {
      let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) !== -1) {
        onLine(buf.subarray(0, nl));
        buf = buf.subarray(nl + 1);
      }
      carry = Buffer.from(buf);
    });
    child.stderr.on("data", (d: Buffer) => stderr.push(d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`psql COPY of ${db} failed (exit ${code}): ${Buffer.concat(stderr).toString().trim()}`));
      if (carry.length) onLine(carry);
      finish();
      resolve();
    });
    child.stdin.end(script);
  });
  return result;
}

/**
 * Every user table's own rows (`FROM ONLY`), as "schema.table" → count, in one query (names may hold
 * any character but a tab). Partitioned parents hold no rows of their own and are left out.
 */
export async function tableCounts(pg: PgCluster, db: string): Promise<Record<string, number>> {
  const out = await pg.psql(
    `select format('%s.%s', n.nspname, c.relname) || E'\\t' || (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from only %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' order by 1`,
    db,
  );
  return Object.fromEntries(out.split("\n").map((l) => [l.slice(0, l.lastIndexOf("\t")), Number(l.slice(l.lastIndexOf("\t") + 1))]));
}
