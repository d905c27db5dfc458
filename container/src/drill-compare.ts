// After a drill restore: count every table, read every sequence and count objects in the target, compare with the dump's inventory, then compare content (drill-digest.ts).
import type { DrillComparison, TableCount } from "../../src/shared/catalog/drill-record.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import type { PgConnection } from "../../src/shared/pg-url.ts";
import { amcheckIndexes } from "./drill-amcheck.ts";
import { compareContent } from "./drill-digest.ts";
import { pgEnv } from "./pg-process.ts";
import type { PgTools } from "./pg-tools.ts";
import { runCommand } from "./run-command.ts";
import type { DumpInventory } from "./stages/dump-inventory.ts";

const USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'";
const NOT_EXTENSION = (classid: string, objid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${classid}'::regclass AND d.objid = ${objid} AND d.deptype = 'e')`;

/**
 * Catalog counts that must equal the number of TOC entries of the same kind. Each was checked
 * against pg_dump's output for test/fixtures/seed.sql (partitions, a unique key, expression and
 * partial indexes); kinds whose TOC mapping is not one-to-one are left out rather than guessed.
 */
const OBJECT_QUERIES: { kind: string; toc: string[]; sql: string }[] = [
  {
    kind: "views",
    toc: ["VIEW"],
    sql: `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION("pg_class", "c.oid")}`,
  },
  { kind: "materialized views", toc: ["MATERIALIZED VIEW"], sql: `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'm' AND ${USER_SCHEMAS}` },
  {
    kind: "functions and procedures",
    toc: ["FUNCTION", "PROCEDURE"],
    sql: `SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prokind IN ('f', 'p') AND ${USER_SCHEMAS} AND ${NOT_EXTENSION("pg_proc", "p.oid")}`,
  },
  {
    kind: "foreign keys",
    toc: ["FK CONSTRAINT"],
    sql: `SELECT count(*) FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE co.contype = 'f' AND co.conparentid = 0 AND ${USER_SCHEMAS}`,
  },
  // Primary keys, unique and exclusion constraints (each a CONSTRAINT entry, partitions' own included); checks are inline in CREATE TABLE.
  {
    kind: "primary key, unique and exclusion constraints",
    toc: ["CONSTRAINT"],
    sql: `SELECT count(*) FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE co.contype IN ('p', 'u', 'x') AND ${USER_SCHEMAS} AND ${NOT_EXTENSION("pg_class", "co.conrelid")}`,
  },
  // Indexes of their own (INDEX entries); those behind a constraint come with the constraint.
  {
    kind: "indexes",
    toc: ["INDEX"],
    sql: `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${USER_SCHEMAS} AND ${NOT_EXTENSION("pg_class", "i.indrelid")} AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid AND co.contype IN ('p', 'u', 'x'))`,
  },
  {
    kind: "triggers",
    toc: ["TRIGGER"],
    sql: `SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND ${USER_SCHEMAS}`,
  },
];

export const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;
const qualified = (schema: string, name: string) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
const display = (schema: string, name: string) => `${schema}.${name}`;

async function query(tools: PgTools, conn: PgConnection, sql: string): Promise<string[][]> {
  if (sql.trim() === "") return [];
  // One field separator that cannot occur in identifiers we select, rows on separate lines.
  const r = await runCommand(tools.psql, ["-X", "-A", "-t", "-q", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "--no-password", "-d", conn.urlWithoutPassword, "-f", "-"], { env: pgEnv(conn), input: sql });
  if (r.code !== 0) throw new PgsealError("DRILL_FAILED", `counting in the drill database failed: ${r.stderr.trim().slice(-300)}`);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split("\x1f"));
}

/**
 * `amcheck`: also check every restored B-tree index (reported in `amcheck`, apart from the verdict).
 * The content read-back starts with the counting, not after it (the machine has cores to spare while
 * one session counts): its result is used only when every count matched, else it is stopped and dropped.
 */
export async function compareInventory(tools: PgTools, conn: PgConnection, expected: DumpInventory, opts: { amcheck?: boolean } = {}): Promise<DrillComparison> {
  const contentStop = new AbortController();
  const contentRun = compareContent(tools, conn, expected, contentStop.signal);
  // Awaited below, or stopped and dropped when a count already names the problem.
  contentRun.catch(() => {});
  const dropContent = async (why: unknown) => {
    contentStop.abort(why);
    // It failed or was stopped: either way the counts' own result (or error) is the story.
    await contentRun.catch(() => undefined);
  };
  let counted: Omit<DrillComparison, "content" | "amcheck">;
  try {
    counted = await countAndCompare(tools, conn, expected);
  } catch (e) {
    await dropContent(e);
    throw e;
  }
  let failure = counted.failure;
  let content: DrillComparison["content"] = null;
  // Content is compared only when every count matched: a count that differs already names the problem.
  if (failure) await dropContent(new PgsealError("DRILL_FAILED", "the content comparison was stopped: the counts differ already"));
  else content = await contentRun;
  if (content && (content.mismatched.length > 0 || content.largeObjects?.match === false)) {
    const what = [
      ...(content.mismatched.length > 0 ? [`${content.mismatched.length} of ${content.tables} tables restored with the same row count but other content than the dump holds`] : []),
      ...(content.largeObjects?.match === false ? ["the large objects' data differs from the dump's"] : []),
    ];
    failure = { code: "DRILL_CONTENT_MISMATCH", summary: what.join("; ") };
  }
  const { failure: _counts, ...counts } = counted;
  return { ...counts, content, ...(opts.amcheck ? { amcheck: await amcheckIndexes(tools, conn) } : {}), failure };
}

/** Tables, rows, sequences, large objects and catalog objects counted and compared with the inventory. */
async function countAndCompare(tools: PgTools, conn: PgConnection, expected: DumpInventory): Promise<Omit<DrillComparison, "content" | "amcheck">> {
  const present = new Set(
    (
      await query(
        tools,
        conn,
        `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION("pg_class", "c.oid")};`,
      )
    ).map(([s, n]) => display(s, n)),
  );
  const wanted = expected.tables.map((t) => ({ ...t, key: display(t.schema, t.name) }));
  const countable = wanted.filter((t) => present.has(t.key));
  // ONLY: a parent's data entry holds its own rows; its children have entries of their own.
  const counts = new Map<string, number>();
  const batch = 500;
  for (let i = 0; i < countable.length; i += batch) {
    const part = countable.slice(i, i + batch);
    const sql = part.map((t, j) => `SELECT ${i + j}, count(*) FROM ONLY ${qualified(t.schema, t.name)}`).join("\nUNION ALL\n") + ";";
    for (const [idx, n] of await query(tools, conn, sql)) counts.set(countable[Number(idx)].key, Number(n));
  }
  const tables: TableCount[] = wanted.map((t) => ({ table: t.key, expected: t.rows, actual: counts.get(t.key) ?? null }));
  const wantedKeys = new Set(wanted.map((t) => t.key));
  const unexpectedTables = [...present].filter((k) => !wantedKeys.has(k)).sort();

  const seqRows = expected.sequences.length
    ? await query(tools, conn, expected.sequences.map((s, i) => `SELECT ${i}, last_value::text, is_called::text FROM ${qualified(s.schema, s.name)}`).join("\nUNION ALL\n") + ";")
    : [];
  const seqActual = new Map(seqRows.map(([i, v, called]) => [Number(i), `${v}${called === "true" || called === "t" ? "" : " (not called)"}`]));
  const sequences = expected.sequences.map((s, i) => ({
    sequence: display(s.schema, s.name),
    expected: `${s.value}${s.isCalled ? "" : " (not called)"}`,
    actual: seqActual.get(i) ?? null,
  }));

  // Large objects and every catalog count in one statement: one psql start instead of eight.
  const catalog = ["SELECT count(*) FROM pg_largeobject_metadata", ...OBJECT_QUERIES.map((q) => q.sql)];
  const catalogRows = await query(tools, conn, catalog.map((sql, i) => `SELECT ${i}, (${sql})`).join("\nUNION ALL\n") + ";");
  const catalogCount = new Map(catalogRows.map(([i, n]) => [Number(i), Number(n)]));
  const largeObjects = { expected: expected.largeObjects, actual: catalogCount.get(0) ?? 0 };
  const objects: DrillComparison["objects"] = OBJECT_QUERIES.map((q, i) => ({
    kind: q.kind,
    expected: q.toc.reduce((sum, d) => sum + (expected.objects[d] ?? 0), 0),
    actual: catalogCount.get(i + 1) ?? 0,
  }));

  const missing = tables.filter((t) => t.actual === null).length;
  const differing = tables.filter((t) => t.actual !== null && t.actual !== t.expected).length;
  const seqOff = sequences.filter((s) => s.actual !== s.expected).length;
  const objOff = objects.filter((o) => o.actual !== o.expected);
  let failure: DrillComparison["failure"] = null;
  if (missing > 0 || unexpectedTables.length > 0) {
    failure = { code: "DRILL_TABLES_MISMATCH", summary: `${missing} table(s) of the dump missing after restore, ${unexpectedTables.length} table(s) restored that the dump has no data for` };
  } else if (differing > 0) {
    failure = { code: "DRILL_ROW_MISMATCH", summary: `${differing} of ${tables.length} tables restored with a different row count than the dump holds` };
  } else if (seqOff > 0) {
    failure = { code: "DRILL_SEQUENCE_MISMATCH", summary: `${seqOff} of ${sequences.length} sequences restored with a different value` };
  } else if (largeObjects.actual !== largeObjects.expected || objOff.length > 0) {
    const what = [...(largeObjects.actual !== largeObjects.expected ? ["large objects"] : []), ...objOff.map((o) => o.kind)];
    failure = { code: "DRILL_OBJECTS_MISMATCH", summary: `restored object counts differ from the dump's catalog for: ${what.join(", ")}` };
  }
  return {
    tables,
    rowsExpected: tables.reduce((s, t) => s + t.expected, 0),
    rowsActual: tables.reduce((s, t) => s + (t.actual ?? 0), 0),
    unexpectedTables,
    sequences,
    largeObjects,
    objects,
    failure,
  };
}
