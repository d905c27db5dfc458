// SIGKILL of the streamer mid-drill: its drill cluster does not outlive it (the cluster has its own process group, so a watchdog stops it and removes its files).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../src/shared/format/keyring.ts";
import type { S3Target } from "../src/shared/s3/s3.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { sleep } from "./harness/registry.ts";
import { spawnStreamer, type StreamerProcess } from "./harness/streamer.ts";
import { freshBucket } from "./harness/use-s3.ts";

let pg: PgCluster;
let target: S3Target;
let streamer: StreamerProcess;
let url: string;

/** Live postgres processes whose command line names a drill cluster's data directory (of `parent`, if given). */
function drillPostgres(parent?: number): { pid: number; dataDir: string }[] {
  const out: { pid: number; dataDir: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z" || (parent !== undefined && Number(ppid) !== parent)) continue;
      const d = args.indexOf("-D");
      // The postmaster itself (initdb takes -D too).
      if (args[0].endsWith("/postgres") && d >= 0 && /pgseal-drill-[^/]+\/data$/.test(args[d + 1] ?? "")) out.push({ pid: Number(entry), dataDir: args[d + 1] });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

beforeAll(async () => {
  pg = await startPostgres({ name: "drill-kill" });
  url = await pg.createDatabase("big");
  // Big enough that the restore takes a few seconds: the kill lands while the cluster runs.
  await pg.psql("CREATE TABLE big AS SELECT i AS id, md5(i::text) AS v FROM generate_series(1, 1500000) AS i;", "big");
  target = await freshBucket("drill-kill");
  streamer = await spawnStreamer();
});

afterAll(async () => {
  await streamer?.stop();
  await pg?.stop();
});

describe("a streamer killed mid-drill", () => {
  it("leaves no drill cluster running and no drill directory behind", async () => {
    const body = {
      jobId: "kill-1",
      kind: "backup",
      db: "big",
      databaseUrl: url,
      destination: { ...target, pathStyle: true },
      prefix: "kill",
      keyring: generateKey("kill").entry,
      compression: "zstd",
      drill: { mode: "local" },
    };
    const res = await fetch(`${streamer.url}/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect(res.status).toBe(202);
    // Only this streamer's cluster: other test runs on the machine drill too.
    const cluster = await until("the drill cluster to run", () => drillPostgres(streamer.pid)[0], 120_000);
    process.kill(streamer.pid, "SIGKILL");
    await streamer.exited;
    // By pid: once orphaned, its parent is no longer the streamer.
    await until("the drill cluster to stop", () => !drillPostgres().some((p) => p.pid === cluster.pid), 45_000).catch((e: Error) => {
      throw new Error(`${e.message}; streamer said: ${streamer.output().slice(-2000)}`);
    });
    await until("the drill directory to go", () => !existsSync(cluster.dataDir.replace(/\/data$/, "")), 10_000);
  });
});
