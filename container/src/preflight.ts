// Before a dump: connect once, learn the server version and database size, refuse an old pg_dump.
import { PgsealError } from "../../src/shared/errors.ts";
import type { PgConnection } from "../../src/shared/pg-url.ts";
import { runPsql } from "./pg-process.ts";
import type { PgTools } from "./pg-tools.ts";

export interface SourceInfo {
  serverVersion: string;
  serverMajor: number;
  sizeBytes: number;
  /** Session settings that shape COPY text and that pg_dump does not set itself: a drill reads the restore back with them. */
  session: { timeZone: string; byteaOutput: string };
}

export async function inspectSource(tools: PgTools, conn: PgConnection): Promise<SourceInfo> {
  const out = await runPsql(
    tools.psql,
    conn,
    "select current_setting('server_version_num') || '|' || current_setting('server_version') || '|' || pg_database_size(current_database())" +
      " || '|' || current_setting('TimeZone') || '|' || current_setting('bytea_output')",
  );
  const [num, version, size, timeZone, byteaOutput] = out.split("|");
  const serverMajor = Math.floor(Number(num) / 10000);
  if (!Number.isFinite(serverMajor) || serverMajor < 9) {
    throw new PgsealError("PG_DUMP_FAILED", `unexpected answer from ${conn.redacted} when asking its version`);
  }
  if (tools.major < serverMajor) {
    throw new PgsealError(
      "PG_DUMP_TOO_OLD",
      `pg_dump ${tools.version} is older than the server (PostgreSQL ${version.split(" ")[0]}) at ${conn.redacted}: ` +
        `install PostgreSQL ${serverMajor} client tools or newer, or point PGSEAL_PG_BIN at their bin directory`,
    );
  }
  return { serverVersion: version.split(" ")[0], serverMajor, sizeBytes: Number(size), session: { timeZone, byteaOutput } };
}

/** Counts user objects so a restore never lands on top of existing data by accident. */
export async function countUserObjects(tools: PgTools, conn: PgConnection): Promise<number> {
  const out = await runPsql(
    tools.psql,
    conn,
    `select (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
                and c.relkind in ('r','p','v','m','S','f'))
          + (select count(*) from pg_largeobject_metadata)`,
  );
  return Number(out);
}
