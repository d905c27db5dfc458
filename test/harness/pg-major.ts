// Which PostgreSQL major a test run uses: PGSEAL_TEST_PG=15|17|18 picks the servers the harness starts and the tools everything runs (PGSEAL_PG_BIN).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { cachedBinDir, PG_CACHE_DIR, pgBinDirFor } from "../../scripts/pg-majors.ts";

/** The major PGSEAL_TEST_PG asks for; undefined means the newest installed (findPgTools' default). */
export function testPgMajor(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.PGSEAL_TEST_PG;
  if (raw === undefined || raw === "") return undefined;
  const major = Number(raw);
  if (!Number.isInteger(major) || major < 10) throw new Error(`PGSEAL_TEST_PG=${raw}: expected a PostgreSQL major version such as 15, 17 or 18`);
  return major;
}

/** The bin directory of PostgreSQL `major` (the system's, else .cache/pg/), or an error saying how to get it. */
export function pgBinDir(major: number): string {
  const dir = pgBinDirFor(major);
  if (!dir) {
    throw new Error(
      `PostgreSQL ${major} is not available for the tests: run \`npm run bootstrap -- --pg-matrix\` (or \`node scripts/pg-majors.ts ${major}\`), which unpacks it into .cache/pg/${major}/`,
    );
  }
  return dir;
}

/** The share directory (extensions, timezone sets) of the major a run uses: Debian's, or the matrix's private root. */
export function pgShareDir(major = testPgMajor() ?? newestSystemMajor()): string {
  if (pgBinDir(major) === cachedBinDir(major)) return join(PG_CACHE_DIR, String(major), "root", "usr", "share", "postgresql", String(major));
  return join("/usr/share/postgresql", String(major));
}

/** The newest major in /usr/lib/postgresql: what findPgTools takes when nothing is selected. */
function newestSystemMajor(): number {
  const majors = readdirSync("/usr/lib/postgresql")
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
  if (majors.length === 0) throw new Error("no PostgreSQL in /usr/lib/postgresql: run `npm run bootstrap`");
  return Math.max(...majors);
}
