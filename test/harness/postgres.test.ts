// Tests of the throwaway PostgreSQL harness and of findPgTools: what the other tests stand on.
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findPgTools } from "../../container/src/pg-tools.ts";
import { isPgsealError } from "../../src/shared/errors.ts";
import { runCommand, systemUser } from "./ports.ts";
import { startPostgres, type PgCluster } from "./postgres.ts";
import { isGone } from "./registry.ts";

let pg: PgCluster;

beforeAll(async () => {
  pg = await startPostgres({ name: "harness" });
});

afterAll(async () => {
  await pg?.stop();
});

function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("Uid:"));
  return Number(line?.split(/\s+/)[1]);
}

describe("findPgTools", () => {
  it("finds real, versioned binaries rather than Debian's pg_wrapper scripts", async () => {
    const tools = await findPgTools({ needServer: true });
    expect(tools.major).toBeGreaterThanOrEqual(12);
    expect(tools.version.startsWith(`${tools.major}`)).toBe(true);
    for (const bin of [tools.pg_dump, tools.pg_restore, tools.psql, tools.initdb, tools.postgres, tools.pg_ctl]) {
      expect(bin.startsWith(`${tools.binDir}/`)).toBe(true);
      expect(readFileSync(bin).subarray(0, 4)).toEqual(Buffer.from("\x7fELF", "latin1"));
    }
    expect(await findPgTools({ needServer: true })).toBe(tools);
  });

  it("fails with PG_TOOLS_MISSING and an install command when PGSEAL_PG_BIN has no tools", async () => {
    const saved = process.env.PGSEAL_PG_BIN;
    process.env.PGSEAL_PG_BIN = "/nonexistent/pg/bin";
    try {
      const error = await findPgTools().catch((e: unknown) => e);
      expect(isPgsealError(error, "PG_TOOLS_MISSING")).toBe(true);
      expect((error as Error).message).toContain("PGSEAL_PG_BIN=/nonexistent/pg/bin");
      expect((error as Error).message).toMatch(/apt-get install -y postgresql-client|brew install|Install the/);
    } finally {
      if (saved === undefined) delete process.env.PGSEAL_PG_BIN;
      else process.env.PGSEAL_PG_BIN = saved;
    }
  });

  it("skips installations older than minMajor", async () => {
    const tools = await findPgTools();
    const error = await findPgTools({ minMajor: tools.major + 1 }).catch((e: unknown) => e);
    expect(isPgsealError(error, "PG_TOOLS_MISSING")).toBe(true);
    expect((error as Error).message).toContain(`older than ${tools.major + 1}`);
  });
});

describe("startPostgres", () => {
  it("accepts the superuser's password over TCP on 127.0.0.1 and rejects a wrong one", async () => {
    const ok = await runCommand(pg.tools.psql, ["-X", "-A", "-t", "-c", "select current_user, inet_server_addr()", pg.url]);
    expect(ok.stderr).toBe("");
    expect(ok.stdout.trim()).toBe(`${pg.superuser}|127.0.0.1`);
    const wrong = pg.url.replace(`:${encodeURIComponent(pg.password)}@`, ":not-the-password@");
    const bad = await runCommand(pg.tools.psql, ["-X", "-c", "select 1", wrong], { env: { ...process.env, PGCONNECT_TIMEOUT: "5" } });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("password authentication failed");
  });

  it("runs the server as the unprivileged postgres user when the owner is root", async () => {
    const pid = Number(readFileSync(`${pg.dataDir}/postmaster.pid`, "utf8").split("\n")[0]);
    const expected = process.getuid?.() === 0 ? systemUser("postgres")?.uid : process.getuid?.();
    expect(expected).toBeDefined();
    expect(uidOf(pid)).toBe(expected);
  });

  it("creates databases whose URL reaches them and runs multi-statement SQL through psql", async () => {
    const url = await pg.createDatabase("Mixed Case db");
    expect(url).toBe(pg.urlFor("Mixed Case db"));
    expect(url).toContain("/Mixed%20Case%20db");
    await pg.psql("create table t(x int); insert into t values (1), (2); create database other_db;", "Mixed Case db");
    expect(await pg.psql("select current_database(), sum(x) from t", "Mixed Case db")).toBe("Mixed Case db|3");
    const viaUrl = await runCommand(pg.tools.psql, ["-X", "-A", "-t", "-c", "select current_database()", url]);
    expect(viaUrl.stdout.trim()).toBe("Mixed Case db");
  });

  it("rejects with the server's error message when SQL fails", async () => {
    await expect(pg.psql("select 1/0")).rejects.toThrow(/division by zero/);
    await expect(pg.psql("select 1; select no_such_column from pg_class; select 3")).rejects.toThrow(/no_such_column/);
  });

  it("stop() ends the postmaster and its backends and removes the temp dir", async () => {
    const own = await startPostgres({ name: "stop" });
    const pid = Number(readFileSync(`${own.dataDir}/postmaster.pid`, "utf8").split("\n")[0]);
    const backends = (await own.psql("select pid from pg_stat_activity where backend_type <> 'client backend'")).split("\n").map(Number);
    expect(backends.length).toBeGreaterThan(2);
    await own.stop();
    expect(isGone(pid)).toBe(true);
    expect(backends.filter((b) => !isGone(b))).toEqual([]);
    expect(existsSync(own.dataDir)).toBe(false);
    await own.stop(); // idempotent
  });
});
