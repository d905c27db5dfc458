// `npm run bench`: pgseal's pipeline against raw pg_dump and the common peer pipeline, side by side
// in one run on the same databases and endpoints. Writes bench/results/latest.json.
// Options: --rounds N (default 3), --small-only (skip the ~2 GB database; for a quick look).
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBackup } from "../container/src/backup.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { sealBackup } from "../container/src/seal.ts";
import { generateKey, parseKeyring } from "../src/shared/keyring.ts";
import { S3Client, type S3Target } from "../src/shared/s3.ts";
import { pgsealEnv } from "../test/harness/cli.ts";
import { startDiscardS3 } from "../test/harness/discard-s3.ts";
import { startPostgres, type PgCluster } from "../test/harness/postgres.ts";
import { startS3 } from "../test/harness/s3.ts";

const ROUNDS = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 3;
const SMALL_ONLY = process.argv.includes("--small-only");
const ROOT = new URL("..", import.meta.url).pathname;
const RESULTS = join(ROOT, "bench/results/latest.json");

interface Run {
  name: string;
  db: string;
  round: number;
  wall_s: number;
  cpu_s: number;
  /** Peak RSS of the pgseal Node process (pgseal runs) or the largest process of the pipeline (others). */
  peak_rss_mib: number;
  /** Bytes of the logical dump (pg_dump -Fc -Z0 output size) the run processed. */
  bytes: number;
  stored_bytes?: number;
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { env, maxBuffer: 256 << 20 }, (e, stdout, stderr) => (e ? reject(new Error(`${cmd} failed: ${stderr || e.message}`)) : resolve({ stdout, stderr }))),
  );
}

/** Runs a shell pipeline under GNU time: wall, CPU of every process it waited for, largest RSS. */
async function timed(script: string, env: NodeJS.ProcessEnv): Promise<{ wall: number; cpu: number; rssKiB: number; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), "pgseal-bench-"));
  const timeFile = join(dir, "time");
  try {
    const { stdout } = await sh("/usr/bin/time", ["-o", timeFile, "-f", "%e %U %S %M", "bash", "-o", "pipefail", "-c", script], env);
    const [wall, user, sys, rss] = readFileSync(timeFile, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
    return { wall, cpu: user + sys, rssKiB: rss, stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function buildDatabase(pg: PgCluster, name: string, pgbenchScale: number, docRows: number): Promise<string> {
  const url = await pg.createDatabase(name);
  console.log(`  building ${name}: pgbench scale ${pgbenchScale} + ${docRows} text/jsonb rows`);
  await sh(pg.tools.pgbench!, ["-i", "-q", "-s", String(pgbenchScale), "-h", "127.0.0.1", "-p", String(pg.port), "-U", pg.superuser, name], { ...process.env, PGPASSWORD: pg.password });
  await pg.psql(
    `create table docs as
       select g as id,
              md5(g::text) || ' ' || repeat(md5((g * 31)::text) || E'\\n', 4) || 'note ' || g as body,
              jsonb_build_object('id', g, 'tags', jsonb_build_array('t' || (g % 97), 't' || (g % 13)), 'score', (g % 1000) / 7.0, 'hash', md5((g * 7)::text)) as meta
       from generate_series(1, ${docRows}) g;
     vacuum analyze;`,
    name,
  );
  const size = await pg.psql(`select pg_database_size('${name}')`, name);
  console.log(`  ${name}: ${(Number(size) / 1e9).toFixed(2)} GB on disk`);
  return url;
}

/**
 * Drill time with and without content digests (docs/DRILLS.md), on the small database: one backup
 * to Swift, then drills of it alternating between the full inventory and one stripped of its
 * digests (counts only). Local throwaway cluster, as in the container.
 */
async function benchDrillContentDigest(pg: PgCluster, s3: S3Target, url: string) {
  const keyring = parseKeyring(generateKey("bench-drill").entry);
  const client = new S3Client(s3, nodeHashing);
  const b = await runBackup({ db: "bench_drill", databaseUrl: url, s3, prefix: "drill-digest", keyring, compression: "zstd" });
  const countsOnly = { ...b.inventory!, contentDigest: undefined };
  const runs: { round: number; content_digest: boolean; total_s: number; compare_s: number; hash_s: number; hashed_bytes: number }[] = [];
  console.log(`\ndrill of bench_small with and without content digests (pg ${pg.tools.version}), ${ROUNDS} rounds`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const withDigest of round % 2 ? [true, false] : [false, true]) {
      const { drill } = await sealBackup({ client, manifest: b.manifest, manifestKey: b.manifestKey, keyring, inventory: withDigest ? b.inventory : countsOnly });
      if (drill.verdict !== "pass") throw new Error(`bench drill did not pass: ${drill.code} ${drill.reason}`);
      const c = drill.comparison?.content;
      runs.push({ round, content_digest: withDigest, total_s: drill.totalSeconds, compare_s: drill.countSeconds, hash_s: c?.seconds ?? 0, hashed_bytes: c?.bytes ?? 0 });
      console.log(`  round ${round} ${withDigest ? "content-exact" : "counts only  "} drill ${drill.totalSeconds.toFixed(2)} s, compare ${drill.countSeconds.toFixed(2)} s${c?.bytes ? `, ${(c.bytes / 1e6).toFixed(0)} MB hashed in ${c.seconds.toFixed(2)} s` : ""}`);
    }
  }
  const medOf = (w: boolean, k: "total_s" | "compare_s") => median(runs.filter((r) => r.content_digest === w).map((r) => r[k]));
  return {
    db: "small_db",
    runs,
    median_drill_s: { content_exact: medOf(true, "total_s"), counts_only: medOf(false, "total_s") },
    median_compare_s: { content_exact: medOf(true, "compare_s"), counts_only: medOf(false, "compare_s") },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  console.log("bench: starting PostgreSQL, Swift and a discard S3 endpoint");
  const [pg, swift, discard] = await Promise.all([startPostgres(), startS3(), startDiscardS3()]);
  try {
    await swift.createBucket("bench");
    const dbs: { name: string; url: string; size: "small_db" | "large_db" }[] = [
      { name: "bench_small", url: await buildDatabase(pg, "bench_small", 50, 450_000), size: "small_db" },
    ];
    if (!SMALL_ONLY) dbs.push({ name: "bench_large", url: await buildDatabase(pg, "bench_large", 100, 900_000), size: "large_db" });

    const keyring = generateKey("bench").entry;
    const pgEnv = { ...process.env, PGPASSWORD: pg.password };
    const noPw = (url: string) => url.replace(/:[^:@/]*@/, "@");
    const endpoints = { discard: discard.endpoint, swift: swift.endpoint };
    const awsEnv = (endpoint: "discard" | "swift") => ({
      ...pgEnv,
      AWS_ACCESS_KEY_ID: swift.accessKeyId,
      AWS_SECRET_ACCESS_KEY: swift.secretAccessKey,
      AWS_DEFAULT_REGION: swift.region,
      // Newer awscli sends flexible checksums by default; Swift and B2 do not take them.
      AWS_REQUEST_CHECKSUM_CALCULATION: "when_required",
      AWS_RESPONSE_CHECKSUM_VALIDATION: "when_required",
      AWS_CA_BUNDLE: "",
      ENDPOINT: endpoints[endpoint],
    });
    const benchEnv = (endpoint: "discard" | "swift", rusage: string) => ({
      ...process.env,
      ...pgsealEnv({ endpoint: endpoints[endpoint], bucket: "bench", region: swift.region, accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey }, keyring),
      PGSEAL_BENCH_RUSAGE: rusage,
    });

    const runs: Run[] = [];
    for (const db of dbs) {
      const dumpBytes = Number((await timed(`${pg.tools.pg_dump} -Fc -Z0 --dbname '${noPw(db.url)}' | wc -c`, pgEnv)).stdout.trim());
      console.log(`\n${db.name}: logical dump ${(dumpBytes / 1e9).toFixed(2)} GB; ${ROUNDS} rounds, variants alternating`);
      const variants: { name: string; run: () => Promise<Omit<Run, "name" | "db" | "round" | "bytes">> }[] = [
        {
          name: "raw_pg_dump",
          run: async () => {
            const t = await timed(`${pg.tools.pg_dump} -Fc -Z0 --dbname '${noPw(db.url)}' > /dev/null`, pgEnv);
            return { wall_s: t.wall, cpu_s: t.cpu, peak_rss_mib: t.rssKiB / 1024 };
          },
        },
        ...(["zstd", "gzip"] as const).flatMap((compression) =>
          (["discard", "swift"] as const)
            .filter((ep) => ep === "discard" || compression === "zstd")
            .map((ep) => ({
              name: `pgseal_${compression}_${ep}`,
              run: async () => {
                const rusage = join(tmpdir(), `pgseal-bench-rusage-${process.pid}.json`);
                const t = await timed(
                  `PATH='${pg.tools.binDir}':$PATH '${process.execPath}' --import '${ROOT}bench/rusage.ts' '${ROOT}bin/pgseal.mjs' backup --json --name ${db.name} --prefix ${compression}-${ep} --compression ${compression}`,
                  { ...benchEnv(ep, rusage), PGSEAL_DATABASE_URL: db.url, PGSEAL_PG_BIN: pg.tools.binDir },
                );
                const self = JSON.parse(readFileSync(rusage, "utf8"));
                rmSync(rusage, { force: true });
                const stored = JSON.parse(t.stdout).manifest.artifact.bytes;
                return { wall_s: t.wall, cpu_s: t.cpu, peak_rss_mib: self.maxRssKiB / 1024, stored_bytes: stored };
              },
            })),
        ),
        ...(["discard", "swift"] as const).map((ep) => ({
          name: `peer_pgdump_gzip_awscli_${ep}`,
          run: async () => {
            const t = await timed(
              `${pg.tools.pg_dump} -Fc --dbname '${noPw(db.url)}' | gzip | aws s3 cp - s3://bench/peer/${db.name}.dump.gz --endpoint-url "$ENDPOINT" --only-show-errors`,
              awsEnv(ep),
            );
            return { wall_s: t.wall, cpu_s: t.cpu, peak_rss_mib: t.rssKiB / 1024 };
          },
        })),
      ];
      for (let round = 1; round <= ROUNDS; round++) {
        // Rotate the order each round so no variant always runs first (cold cache) or last.
        const order = variants.map((_, i) => variants[(i + round - 1) % variants.length]);
        for (const v of order) {
          const r = await v.run();
          runs.push({ name: v.name, db: db.size, round, bytes: dumpBytes, ...r });
          console.log(
            `  round ${round} ${v.name.padEnd(30)} ${r.wall_s.toFixed(2).padStart(7)} s  ${(dumpBytes / 1e6 / r.wall_s).toFixed(0).padStart(5)} MB/s  cpu ${r.cpu_s.toFixed(1).padStart(6)} s  rss ${r.peak_rss_mib.toFixed(0).padStart(5)} MiB`,
          );
        }
      }
    }

    const drillDigest = await benchDrillContentDigest(pg, { endpoint: swift.endpoint, bucket: "bench", region: swift.region, accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey }, dbs[0].url);
    const med = (name: string, db: string) => median(runs.filter((r) => r.name === name && r.db === db).map((r) => r.wall_s));
    const ref = dbs.some((d) => d.size === "large_db") ? "large_db" : "small_db";
    const ratios = {
      zstd_vs_raw: med("pgseal_zstd_discard", ref) / med("raw_pg_dump", ref),
      gzip_vs_raw: med("pgseal_gzip_discard", ref) / med("raw_pg_dump", ref),
      peer_vs_zstd: med("peer_pgdump_gzip_awscli_discard", ref) / med("pgseal_zstd_discard", ref),
      peer_vs_gzip: med("peer_pgdump_gzip_awscli_discard", ref) / med("pgseal_gzip_discard", ref),
    };
    const peakFor = (db: string) => Math.max(0, ...runs.filter((r) => r.db === db && r.name.startsWith("pgseal_")).map((r) => r.peak_rss_mib));
    const result = {
      date: new Date().toISOString(),
      machine: { cpus: (await import("node:os")).cpus().length, node: process.version, pg_dump: pg.tools.version },
      rounds: ROUNDS,
      ratios_measured_on: ref,
      runs,
      medians: Object.fromEntries(
        [...new Set(runs.map((r) => `${r.db}/${r.name}`))].map((k) => {
          const [db, name] = k.split("/");
          return [k, { wall_s: med(name, db) }];
        }),
      ),
      ratios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, Math.round(v * 1000) / 1000])),
      drill_content_digest: drillDigest,
      peak_rss_mib: { small_db: Math.round(peakFor("small_db")), large_db: Math.round(peakFor("large_db")) },
      targets: { zstd_vs_raw_max: 1.15, gzip_vs_raw_max: 1.6, peer_vs_pgseal_min: 2, peak_rss_mib_max: 200 },
    };
    writeFileSync(RESULTS, JSON.stringify(result, null, 2) + "\n");
    console.log(`\nratios (${ref}, medians of wall time): ${JSON.stringify(result.ratios)}`);
    console.log(`peak RSS of pgseal (MiB): ${JSON.stringify(result.peak_rss_mib)}`);
    console.log(`wrote ${RESULTS}`);
  } finally {
    await Promise.allSettled([pg.stop(), swift.stop(), discard.stop()]);
  }
}

await main();
