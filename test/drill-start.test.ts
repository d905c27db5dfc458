// The drill starts its cluster while it opens the artifact: when either side fails, the other is not stranded (no postgres, no temp dir left).
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup, type BackupResult } from "../container/src/backup.ts";
import { runDrill } from "../container/src/drill.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { findPgTools } from "../container/src/pg-tools.ts";
import { PgsealError } from "../src/shared/errors.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";

const keyring = parseKeyring(generateKey("start").entry);
let pg: PgCluster;
let target: S3Target;
let client: S3Client;
let backup: BackupResult;

/** Live postgres processes whose data directory lies under `root`. */
function postgresUnder(root: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const d = args.indexOf("-D");
      if (d >= 0 && (args[d + 1] ?? "").startsWith(root)) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/**
 * Runs `f` with TMPDIR pointing at a private dir (the drill cluster lives under it), then says what
 * was left there: other test files drill at the same time, so the run's shared TMPDIR cannot tell.
 */
async function inPrivateTmp<T>(f: () => Promise<T>): Promise<{ result: T | unknown; left: string[]; running: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), "pgseal-start-"));
  chmodSync(dir, 0o755); // the cluster runs as `postgres` when the tests run as root
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    const result = await f().catch((e: unknown) => e);
    return { result, left: readdirSync(dir), running: postgresUnder(dir) };
  } finally {
    process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  pg = await startPostgres({ name: "drill-start" });
  await pg.createDatabase("app");
  await pg.psql("CREATE TABLE t AS SELECT i, md5(i::text) AS v FROM generate_series(1, 1000) i;", "app");
  target = await freshBucket("drill-start");
  client = new S3Client(target, nodeHashing);
  backup = await runBackup({ db: "app", databaseUrl: pg.urlFor("app"), s3: target, prefix: "s", keyring, compression: "zstd" });
});

afterAll(async () => {
  await pg?.stop();
});

describe("starting the drill cluster while the artifact opens", () => {
  it("passes, with the cluster stopped and its directory gone afterwards", async () => {
    const { result, left, running } = await inPrivateTmp(() => runDrill({ client, manifest: backup.manifest, keyring, expected: backup.inventory! }));
    expect(result).toMatchObject({ verdict: "pass", target: "local-cluster" });
    expect(left).toEqual([]);
    expect(running).toEqual([]);
  });

  it("keeps the opened artifact while the cluster starts, even when the garbage collector runs meanwhile", async () => {
    // undici cancels the unlocked body of a Response that was collected: the drill holds only the body.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const collecting = setInterval(gc, 10);
    try {
      const { result } = await inPrivateTmp(() => runDrill({ client, manifest: backup.manifest, keyring, expected: backup.inventory! }));
      expect(result).toMatchObject({ verdict: "pass" });
    } finally {
      clearInterval(collecting);
    }
  });

  it("an artifact that cannot be opened fails the drill, and the cluster that started meanwhile is stopped and removed", async () => {
    // The GET fails in milliseconds, long before initdb is done: the cluster must still be awaited and disposed.
    const manifest = { ...backup.manifest, artifact: { ...backup.manifest.artifact, key: `${backup.manifest.artifact.key}.missing` } };
    let started = "";
    const { result, left, running } = await inPrivateTmp(() => runDrill({ client, manifest, keyring, expected: backup.inventory!, onNotice: (m) => (started = m) }));
    expect(result).toMatchObject({ verdict: "fail" });
    expect(started).toMatch(/^drill cluster: PostgreSQL .* in .*pgseal-drill-/);
    expect(left).toEqual([]);
    expect(running).toEqual([]);
  });

  it("a cluster that cannot start is DRILL_TARGET_UNREACHABLE (no verdict), and leaves nothing behind", async () => {
    // Real tools, but a `postgres` that exits at once: initdb (which finds the real one beside its own target) succeeds, the start fails.
    const real = await findPgTools({ needServer: true });
    const bin = mkdtempSync(join(tmpdir(), "pgseal-bin-"));
    chmodSync(bin, 0o755);
    for (const f of readdirSync(real.binDir)) if (f !== "postgres") symlinkSync(join(real.binDir, f), join(bin, f));
    writeFileSync(join(bin, "postgres"), "#!/bin/sh\necho 'FATAL:  this postgres never starts' >&2\nexit 1\n");
    chmodSync(join(bin, "postgres"), 0o755);
    const previous = process.env.PGSEAL_PG_BIN;
    process.env.PGSEAL_PG_BIN = bin;
    try {
      const { result, left, running } = await inPrivateTmp(() => runDrill({ client, manifest: backup.manifest, keyring, expected: backup.inventory! }));
      expect(result).toBeInstanceOf(PgsealError);
      expect(result).toMatchObject({ code: "DRILL_TARGET_UNREACHABLE", message: expect.stringMatching(/never starts/) });
      expect(left).toEqual([]);
      expect(running).toEqual([]);
    } finally {
      if (previous === undefined) delete process.env.PGSEAL_PG_BIN;
      else process.env.PGSEAL_PG_BIN = previous;
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
