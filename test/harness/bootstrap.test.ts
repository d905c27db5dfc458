// Tests of scripts/bootstrap.ts: quick and quiet when all is installed, exact install commands when not.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { systemUser } from "./ports.ts";

const BOOTSTRAP = new URL("../../scripts/bootstrap.ts", import.meta.url).pathname;
const FAST_ENOUGH_MS = 2_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Runs bootstrap; as root it runs as the unprivileged `postgres` user so it can never apt-get anything here. */
function bootstrap(args: string[], env: Record<string, string>, unprivileged: boolean): Promise<Run> {
  const user = unprivileged && process.getuid?.() === 0 ? systemUser("postgres") : undefined;
  if (unprivileged && process.getuid?.() === 0 && !user) throw new Error("no unprivileged `postgres` user to run bootstrap as");
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BOOTSTRAP, ...args], {
      env: { ...process.env, ...env },
      uid: user?.uid,
      gid: user?.gid,
      cwd: "/",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr, elapsedMs: performance.now() - started }));
  });
}

describe("scripts/bootstrap.ts", () => {
  it("prints one ok line and exits 0 within 2 seconds when everything is installed", async () => {
    const run = await bootstrap([], {}, false);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^bootstrap: ok \(Node 24\.[\d.]+, PostgreSQL \d+[\d.]*, Swift, Chromium\)\n$/);
    expect(run.stderr).toBe("");
    expect(run.elapsedMs).toBeLessThan(FAST_ENOUGH_MS);
  });

  it("with --pg-matrix names the matrix's PostgreSQL versions, quickly when they are in .cache/pg already", async () => {
    const run = await bootstrap(["--pg-matrix"], {}, true);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/; test matrix: PostgreSQL 17\.\d+, 18\.\d+\)\n$/);
    expect(run.stderr).toBe("");
    expect(run.elapsedMs).toBeLessThan(FAST_ENOUGH_MS);
    const none = await bootstrap(["--pg-matrix"], { PGSEAL_TEST_MATRIX: "" }, true);
    expect(none.stdout).toContain("; test matrix: PostgreSQL none (PGSEAL_TEST_MATRIX is empty))");
  });

  it("with --pg-matrix fails with what to do for a major it has no source for", async () => {
    const run = await bootstrap(["--pg-matrix"], { PGSEAL_TEST_MATRIX: "13" }, true);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("PostgreSQL 13 is not installed and there is no Debian suite known to provide it");
    expect(run.stderr).toContain("/usr/lib/postgresql/13/bin");
  });

  it("prints the exact sudo apt-get command and exits 1 when PostgreSQL is missing and it is not root", async () => {
    const run = await bootstrap([], { PGSEAL_PG_BIN: "/nonexistent/pg/bin" }, true);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("missing PostgreSQL (pg_dump, pg_restore, psql, initdb, postgres, pgbench)");
    expect(run.stderr).toContain("\n  sudo apt-get install -y --no-install-recommends postgresql\n");
    expect(run.stdout).toBe("");
  });

  it("names the Swift, Chromium, awscli, zstd and pigz packages when their binaries are not on PATH", async () => {
    const run = await bootstrap(["--bench"], { PATH: "/nonexistent" }, true);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("missing OpenStack Swift");
    expect(run.stderr).toContain("sudo apt-get install -y --no-install-recommends swift-proxy swift-object swift-container swift-account chromium awscli zstd pigz\n");
    expect(run.stderr).not.toContain("missing PostgreSQL");
  });

  it("leaves Chromium out with --no-browser (the demo and dev do not drive a browser)", async () => {
    const run = await bootstrap(["--no-browser"], { PATH: "/nonexistent" }, true);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("sudo apt-get install -y --no-install-recommends swift-proxy swift-object swift-container swift-account\n");
  });
});
