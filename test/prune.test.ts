// Retention end to end: backups across simulated days (clock injected) in Swift, pruned by policy; exactly the expected objects remain.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../container/src/backup.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { sealBackup } from "../container/src/seal.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { executePrune, planPrune } from "../src/shared/catalog/prune.ts";
import { DEFAULT_RETENTION, type RetentionPolicy } from "../src/shared/catalog/retention.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";

const keyringText = generateKey("prune").entry;
const keyring = parseKeyring(keyringText);
const policy: RetentionPolicy = { ...DEFAULT_RETENTION, keepLast: 1, hourly: 0, daily: 3, weekly: 0, monthly: 0, yearly: 0, maxAgeDays: null, unsealedGraceDays: 7 };
let pg: PgCluster;
let target: S3Target;
let client: S3Client;

/** Day n of March 2026 at 03:00 UTC. */
const day = (n: number) => new Date(Date.UTC(2026, 2, n, 3, 0, 0));

async function backupOn(n: number, outcome: "sealed" | "drill-failed"): Promise<void> {
  const r = await runBackup({ db: "shop", databaseUrl: pg.urlFor("shop"), s3: target, prefix: "p", keyring, compression: "zstd" }, { now: () => day(n) });
  const inventory = structuredClone(r.inventory!);
  if (outcome === "drill-failed") inventory.tables[0].rows += 1;
  const { manifest } = await sealBackup({ client, manifest: r.manifest, manifestKey: r.manifestKey, keyring, inventory, scratchUrl: pg.url });
  expect(manifest.status).toBe(outcome);
}

/** The days whose backups are in the bucket, from a plain listing: artifact and manifest both, or the day is reported twice. */
async function daysInBucket(): Promise<number[]> {
  const days: number[] = [];
  for await (const o of client.list("p/shop/")) {
    const m = /shop_202603(\d{2})T030000Z\.(dump\.zst\.pgseal|manifest\.json)$/.exec(o.key);
    if (m) days.push(Number(m[1]));
  }
  const unique = [...new Set(days)].sort((a, b) => a - b);
  // Every backup left is whole: both objects, never one without the other.
  expect(days.length).toBe(unique.length * 2);
  return unique;
}

async function pruneAt(now: Date) {
  const { plan, targets } = await planPrune(client, "p", "shop", policy, now);
  return { plan, result: await executePrune(client, plan, targets) };
}

beforeAll(async () => {
  pg = await startPostgres({ name: "prune" });
  await pg.createDatabase("shop");
  await pg.psql("create table t(id int primary key); insert into t select generate_series(1, 100);", "shop");
  target = await freshBucket("prune");
  client = new S3Client(target, nodeHashing);
  for (let n = 1; n <= 10; n++) await backupOn(n, n === 9 ? "drill-failed" : "sealed");
});

afterAll(async () => {
  await pg?.stop();
});

describe("pruning by policy over simulated days", () => {
  it("keeps the newest sealed, the last three days' sealed backups and a fresh drill-failed one; deletes the rest whole", async () => {
    const { plan, result } = await pruneAt(new Date("2026-03-10T12:00:00Z"));
    expect(result.errors).toEqual([]);
    // daily 3 over sealed backups: days 10, 8, 7 (day 9's drill failed, so it has no sealed backup).
    // Day 9 is unsealed and one day old: within the 7-day grace, kept.
    expect(await daysInBucket()).toEqual([7, 8, 9, 10]);
    expect(plan.delete.map((d) => d.createdAt.slice(8, 10)).sort()).toEqual(["01", "02", "03", "04", "05", "06"]);
    expect(plan.keep.find((d) => d.createdAt.startsWith("2026-03-09"))?.reasons.join(" ")).toMatch(/grace/);
  });

  it("deletes the drill-failed backup once it is past grace and a newer sealed backup exists", async () => {
    await pruneAt(new Date("2026-03-17T12:00:00Z"));
    expect(await daysInBucket()).toEqual([7, 8, 10]);
  });

  it("deletes nothing after a run of failed drills, however long it lasts", async () => {
    await backupOn(20, "drill-failed");
    await backupOn(21, "drill-failed");
    const { plan } = await pruneAt(new Date("2026-06-30T12:00:00Z"));
    expect(plan.delete).toEqual([]);
    expect(await daysInBucket()).toEqual([7, 8, 10, 20, 21]);
  });

  it("aborts multipart uploads under the database's prefix once they are more than a day old, and no younger ones", async () => {
    const stale = await client.createMultipart("p/shop/2026/11/shop_20261101T000000Z.dump.zst.pgseal");
    const other = await client.createMultipart("p/other/2026/11/other_20261101T000000Z.dump.zst.pgseal");
    const uploads = async (prefix: string) => {
      const ids: string[] = [];
      for await (const u of client.listMultipartUploads(prefix)) ids.push(u.uploadId);
      return ids;
    };
    expect((await pruneAt(new Date(Date.now() + 3_600_000))).plan.staleUploads).toEqual([]); // an hour old: maybe still running
    const { plan, result } = await pruneAt(new Date(Date.now() + 25 * 3_600_000));
    expect(plan.staleUploads.map((u) => u.uploadId)).toEqual([stale]);
    expect(result.abortedUploads).toBe(1);
    expect(await uploads("p/shop/")).toEqual([]);
    expect(await uploads("p/other/")).toEqual([other]); // another database's prefix is not ours to touch
    await client.abortMultipart("p/other/2026/11/other_20261101T000000Z.dump.zst.pgseal", other);
  });

  it("shows the plan with pgseal prune --dry-run and changes nothing", async () => {
    const before = await daysInBucket();
    const r = await pgseal(["prune", "--name", "shop", "--prefix", "p", "--dry-run", "--json", "--keep-last", "1", "--daily", "1", "--weekly", "0", "--monthly", "0"], pgsealEnv(target, keyringText));
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as { dryRun: boolean; keep: { createdAt: string }[]; delete: { createdAt: string }[] };
    expect(plan.dryRun).toBe(true);
    // daily 1 keeps only day 10 among sealed; 7 and 8 would go; 20 and 21 (no newer sealed) stay.
    expect(plan.delete.map((d) => d.createdAt.slice(8, 10)).sort()).toEqual(["07", "08"]);
    expect(await daysInBucket()).toEqual(before);
  });
});
