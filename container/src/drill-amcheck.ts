// The optional deeper drill check: amcheck's bt_index_check(index, heapallindexed => true) on every restored B-tree index, reported apart from the verdict.
import type { AmcheckReport } from "../../src/shared/catalog/drill-record.ts";
import type { PgConnection } from "../../src/shared/pg-url.ts";
import { pgEnv } from "./pg-process.ts";
import type { PgTools } from "./pg-tools.ts";
import { runCommand } from "./run-command.ts";

const FIELD = "\x1f";

/**
 * Each index is checked in its own subtransaction so one corrupt index does not hide the others;
 * results land in a temp table and are read back as rows (no parsing of server messages).
 * Partitioned indexes (relkind I) hold no entries of their own: their partitions' indexes are checked.
 * heapallindexed also proves every heap tuple has its index entry: it reads each table once per index.
 */
const SCRIPT = `
CREATE EXTENSION IF NOT EXISTS amcheck;
CREATE TEMP TABLE pgseal_amcheck (index text, error text);
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT c.oid, format('%s.%s', n.nspname, c.relname) AS name
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam
    WHERE a.amname = 'btree' AND c.relkind = 'i' AND i.indisvalid AND i.indisready AND c.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
    ORDER BY 2
  LOOP
    BEGIN
      PERFORM bt_index_check(r.oid, true);
      INSERT INTO pgseal_amcheck VALUES (r.name, NULL);
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO pgseal_amcheck VALUES (r.name, SQLERRM);
    END;
  END LOOP;
END $$;
SELECT index, coalesce(error, '') FROM pgseal_amcheck ORDER BY index;
`;

export async function amcheckIndexes(tools: PgTools, conn: PgConnection): Promise<AmcheckReport> {
  const started = performance.now();
  const seconds = () => Math.round(performance.now() - started) / 1000;
  const r = await runCommand(tools.psql, ["-X", "-A", "-t", "-q", "-F", FIELD, "-v", "ON_ERROR_STOP=1", "--no-password", "-d", conn.urlWithoutPassword, "-f", "-"], {
    env: pgEnv(conn),
    input: SCRIPT,
  });
  if (r.code !== 0) {
    // Most often: the server lacks contrib's amcheck, or a scratch server's user may not create it.
    return { ran: false, reason: `amcheck could not run: ${r.stderr.trim().split("\n").slice(-2).join(" ").slice(0, 300)}`, indexes: 0, failed: [], seconds: seconds() };
  }
  const rows = r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split(FIELD));
  return { ran: true, indexes: rows.length, failed: rows.filter(([, e]) => e).map(([index, error]) => ({ index, error })), seconds: seconds() };
}
