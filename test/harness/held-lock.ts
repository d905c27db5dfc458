// A database whose one table stays locked: pg_dump really starts, then waits, so a job stays `dumping` until cancelled or lost.
import { spawn } from "node:child_process";
import type { PgCluster } from "./postgres.ts";

const LOCK_TIMEOUT_MS = 15_000;

/** A psql session holding ACCESS EXCLUSIVE on <db>.t until the returned stop(); pg_dump waits for it. */
export async function holdLock(pg: PgCluster, db: string): Promise<() => Promise<void>> {
  await pg.psql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);", db);
  const child = spawn(pg.tools.psql, pg.psqlArgs(db), { stdio: ["pipe", "ignore", "ignore"], env: { PATH: process.env.PATH ?? "" } });
  child.stdin.write("BEGIN;\nLOCK TABLE t IN ACCESS EXCLUSIVE MODE;\n");
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  const granted = "SELECT count(*) FROM pg_locks WHERE relation = 't'::regclass AND mode = 'AccessExclusiveLock' AND granted";
  while ((await pg.psql(granted, db)) !== "1") {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`could not take the lock on ${db}.t`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return async () => {
    child.stdin.end(); // psql ends the session, which rolls back and frees the lock
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  };
}
