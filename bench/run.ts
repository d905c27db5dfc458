// `npm run bench`: pgseal's backup, restore and drill against raw pg_dump, the shell pipelines and the common
// peer pipeline, side by side in one run on the same databases and endpoints. Writes bench/results/latest.json.
// Options: --rounds N (default 3), --small-only (skip the large database; for a quick look).
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBackup } from "../container/src/backup.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { sealBackup } from "../container/src/seal.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
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

type Variant = { name: string; run: () => Promise<Omit<Run, "name" | "db" | "round" | "bytes">> };

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
      console.log(
        `  round ${round} ${withDigest ? "content-exact" : "counts only  "} drill ${drill.totalSeconds.toFixed(2)} s, compare ${drill.countSeconds.toFixed(2)} s${c?.bytes ? `, ${(c.bytes / 1e6).toFixed(0)} MB hashed in ${c.seconds.toFixed(2)} s` : ""}`,
      );
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
    const dbs: { name: string; url: string; size: "small_db" | "large_db" }[] = [{ name: "bench_small", url: await buildDatabase(pg, "bench_small", 50, 450_000), size: "small_db" }];
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
    const benchEnv = (endpoint: "discard" | "swift") => ({
      ...process.env,
      ...pgsealEnv({ endpoint: endpoints[endpoint], bucket: "bench", region: swift.region, accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey }, keyring),
    });

    const runs: Run[] = [];
    const work = mkdtempSync(join(tmpdir(), "pgseal-bench-"));
    // The manual drill runs PostgreSQL as the `postgres` user when we are root (it refuses root), like pgseal's drill does.
    chmodSync(work, 0o755);
    const asPg = process.getuid?.() === 0 ? "runuser -u postgres -- " : "";
    const bin = (tool: string) => `'${pg.tools.binDir}/${tool}'`;
    const pgsealCmd = (args: string) => `PATH='${pg.tools.binDir}':$PATH '${process.execPath}' --import '${ROOT}bench/rusage.ts' '${ROOT}bin/pgseal.mjs' ${args}`;
    /** Runs pgseal under GNU time; its own peak RSS comes from bench/rusage.ts (time's %M is the largest process). */
    const pgsealRun = async (args: string, env: NodeJS.ProcessEnv) => {
      const rusage = join(work, `rusage-${process.pid}.json`);
      const t = await timed(pgsealCmd(args), { ...env, PGSEAL_BENCH_RUSAGE: rusage });
      const self = JSON.parse(readFileSync(rusage, "utf8"));
      rmSync(rusage, { force: true });
      return { t, rssMiB: self.maxRssKiB / 1024 };
    };
    const hasPigz = await sh("bash", ["-c", "command -v pigz"]).then(
      () => true,
      () => false,
    );
    let scratch = 0;
    const freshDb = async () => {
      const name = `bench_restore_${++scratch}`;
      return { name, url: await pg.createDatabase(name), drop: () => pg.psql(`drop database if exists ${name} with (force)`) };
    };

    const alternate = async (db: (typeof dbs)[number], bytes: number, variants: Variant[]) => {
      for (let round = 1; round <= ROUNDS; round++) {
        // Rotate the order each round so no variant always runs first (cold cache) or last.
        const order = variants.map((_, i) => variants[(i + round - 1) % variants.length]);
        for (const v of order) {
          const r = await v.run();
          runs.push({ name: v.name, db: db.size, round, bytes, ...r });
          console.log(
            `  round ${round} ${v.name.padEnd(32)} ${r.wall_s.toFixed(2).padStart(7)} s  ${(bytes / 1e6 / r.wall_s).toFixed(0).padStart(5)} MB/s  cpu ${r.cpu_s.toFixed(1).padStart(6)} s  rss ${r.peak_rss_mib.toFixed(0).padStart(5)} MiB`,
          );
        }
      }
    };

    for (const db of dbs) {
      // The plain custom-format dump on local disk: what pg_restore and the manual drill read.
      const plain = join(work, `${db.name}.dump`);
      await timed(`${bin("pg_dump")} -Fc -Z0 --dbname '${noPw(db.url)}' > '${plain}'`, pgEnv);
      chmodSync(plain, 0o644);
      const dumpBytes = statSync(plain).size;
      console.log(`\n${db.name}: logical dump ${(dumpBytes / 1e9).toFixed(2)} GB; ${ROUNDS} rounds, variants alternating`);
      const shell = (name: string, script: string, env: NodeJS.ProcessEnv = pgEnv): Variant => ({
        name,
        run: async () => {
          const t = await timed(script, env);
          return { wall_s: t.wall, cpu_s: t.cpu, peak_rss_mib: t.rssKiB / 1024 };
        },
      });
      const dump = `${bin("pg_dump")} -Fc -Z0 --dbname '${noPw(db.url)}'`;
      const backups: Variant[] = [
        shell("raw_pg_dump", `${dump} > /dev/null`),
        shell("shell_zstd", `${dump} | zstd -3 > /dev/null`),
        ...(hasPigz ? [shell("shell_pigz", `${dump} | pigz -6 > /dev/null`)] : []),
        ...(["zstd", "gzip"] as const).flatMap((compression) =>
          (["discard", "swift"] as const)
            .filter((ep) => ep === "discard" || compression === "zstd")
            .map((ep) => ({
              name: `pgseal_${compression}_${ep}`,
              run: async () => {
                const { t, rssMiB } = await pgsealRun(`backup --json --name ${db.name} --prefix ${compression}-${ep} --compression ${compression}`, {
                  ...benchEnv(ep),
                  PGSEAL_DATABASE_URL: db.url,
                  PGSEAL_PG_BIN: pg.tools.binDir,
                });
                return { wall_s: t.wall, cpu_s: t.cpu, peak_rss_mib: rssMiB, stored_bytes: JSON.parse(t.stdout).manifest.artifact.bytes };
              },
            })),
        ),
        ...(["discard", "swift"] as const).map((ep) =>
          shell(
            `peer_pgdump_gzip_awscli_${ep}`,
            `${bin("pg_dump")} -Fc --dbname '${noPw(db.url)}' | gzip | aws s3 cp - s3://bench/peer/${db.name}.dump.gz --endpoint-url "$ENDPOINT" --only-show-errors`,
            awsEnv(ep),
          ),
        ),
      ];
      await alternate(db, dumpBytes, backups);

      // Restore and drill read the newest zstd backup in Swift (written above) and compare with the same
      // work done by hand from the plain dump on local disk.
      const restoreInto = (name: string, run: (target: string) => Promise<{ wall: number; cpu: number; rss: number }>): Variant => ({
        name,
        run: async () => {
          const target = await freshDb();
          try {
            const t = await run(target.url);
            return { wall_s: t.wall, cpu_s: t.cpu, peak_rss_mib: t.rss };
          } finally {
            await target.drop();
          }
        },
      });
      const fromSwift = { ...benchEnv("swift"), PGSEAL_PG_BIN: pg.tools.binDir };
      const drillDir = join(work, "drill");
      const manualDrill = [
        `rm -rf '${drillDir}' && mkdir '${drillDir}' && ${asPg ? `chown postgres '${drillDir}' && ` : ""}cd '${drillDir}'`,
        `${asPg}${bin("initdb")} -D '${drillDir}/data' -U postgres -E UTF8 --no-locale --auth=trust --no-sync > /dev/null`,
        `${asPg}${bin("pg_ctl")} -D '${drillDir}/data' -l '${drillDir}/log' -w -o "-p 5499 -k '${drillDir}' -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=4GB" start > /dev/null`,
        `trap "${asPg}${bin("pg_ctl")} -D '${drillDir}/data' -m immediate stop > /dev/null; rm -rf '${drillDir}'" EXIT`,
        `${asPg}${bin("createdb")} -h '${drillDir}' -p 5499 -U postgres drill`,
        `${asPg}${bin("pg_restore")} -j2 --no-owner --no-acl -h '${drillDir}' -p 5499 -U postgres -d drill '${plain}'`,
        // Exact row counts of every table, as the drill's comparison does.
        `echo "select format('select %L, count(*) from %I.%I', c.oid::regclass, n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r','p') and n.nspname not in ('pg_catalog','information_schema') \\\\gexec" | ${asPg}${bin("psql")} -X -q -A -t -h '${drillDir}' -p 5499 -U postgres -d drill > /dev/null`,
      ].join(" && ");
      await alternate(db, dumpBytes, [
        restoreInto("pgseal_restore", async (target) => {
          const { t, rssMiB } = await pgsealRun(`restore --json --name ${db.name} --undrilled --prefix zstd-swift --target '${target}'`, fromSwift);
          return { wall: t.wall, cpu: t.cpu, rss: rssMiB };
        }),
        restoreInto("pg_restore_file", async (target) => {
          const t = await timed(`${bin("pg_restore")} --single-transaction --exit-on-error --dbname '${noPw(target)}' '${plain}'`, pgEnv);
          return { wall: t.wall, cpu: t.cpu, rss: t.rssKiB / 1024 };
        }),
      ]);
      await alternate(db, dumpBytes, [
        {
          name: "pgseal_drill",
          run: async () => {
            const { t, rssMiB } = await pgsealRun(`drill --json --name ${db.name} --prefix zstd-swift`, fromSwift);
            if (JSON.parse(t.stdout).drill.verdict !== "pass") throw new Error(`the bench drill did not pass: ${t.stdout}`);
            return { wall_s: t.wall, cpu_s: t.cpu, peak_rss_mib: rssMiB };
          },
        },
        shell("manual_initdb_pg_restore_j2_count", manualDrill),
      ]);
      rmSync(plain, { force: true });
    }
    rmSync(work, { recursive: true, force: true });

    const drillDigest = await benchDrillContentDigest(
      pg,
      { endpoint: swift.endpoint, bucket: "bench", region: swift.region, accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
      dbs[0].url,
    );

    const pick = (name: string, db: string, k: "wall_s" | "cpu_s" = "wall_s") => median(runs.filter((r) => r.name === name && r.db === db).map((r) => r[k]));
    const ref = dbs.some((d) => d.size === "large_db") ? "large_db" : "small_db";
    const gb = runs.find((r) => r.db === ref)!.bytes / 1e9;
    const ratios = {
      zstd_vs_raw: pick("pgseal_zstd_discard", ref) / pick("raw_pg_dump", ref),
      gzip_vs_raw: pick("pgseal_gzip_discard", ref) / pick("raw_pg_dump", ref),
      shell_zstd_vs_raw: pick("shell_zstd", ref) / pick("raw_pg_dump", ref),
      ...(hasPigz ? { shell_pigz_vs_raw: pick("shell_pigz", ref) / pick("raw_pg_dump", ref) } : {}),
      peer_vs_zstd: pick("peer_pgdump_gzip_awscli_discard", ref) / pick("pgseal_zstd_discard", ref),
      peer_vs_gzip: pick("peer_pgdump_gzip_awscli_discard", ref) / pick("pgseal_gzip_discard", ref),
      restore_vs_pg_restore: pick("pgseal_restore", ref) / pick("pg_restore_file", ref),
      drill_vs_manual: pick("pgseal_drill", ref) / pick("manual_initdb_pg_restore_j2_count", ref),
      cpu_zstd_vs_shell_zstd: pick("pgseal_zstd_discard", ref, "cpu_s") / pick("shell_zstd", ref, "cpu_s"),
    };
    const cpuPerGb = {
      pgseal_zstd: pick("pgseal_zstd_discard", ref, "cpu_s") / gb,
      pgseal_gzip: pick("pgseal_gzip_discard", ref, "cpu_s") / gb,
      shell_zstd: pick("shell_zstd", ref, "cpu_s") / gb,
      ...(hasPigz ? { shell_pigz: pick("shell_pigz", ref, "cpu_s") / gb } : {}),
      peer: pick("peer_pgdump_gzip_awscli_discard", ref, "cpu_s") / gb,
    };
    const peakFor = (db: string) => Math.max(0, ...runs.filter((r) => r.db === db && /^pgseal_(zstd|gzip)_/.test(r.name)).map((r) => r.peak_rss_mib));
    const round3 = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
    const result = {
      date: new Date().toISOString(),
      machine: { cpus: (await import("node:os")).cpus().length, node: process.version, pg_dump: pg.tools.version },
      rounds: ROUNDS,
      ratios_measured_on: ref,
      note: "wall and CPU ratios are medians of the same run; CPU is the whole process tree (pg_dump included, the PostgreSQL server not)",
      runs,
      medians: Object.fromEntries(
        [...new Set(runs.map((r) => `${r.db}/${r.name}`))].map((k) => {
          const [db, name] = k.split("/");
          return [k, { wall_s: pick(name, db), cpu_s: pick(name, db, "cpu_s") }];
        }),
      ),
      ratios: round3(ratios),
      cpu_s_per_gb: round3(cpuPerGb),
      drill_content_digest: drillDigest,
      peak_rss_mib: { small_db: Math.round(peakFor("small_db")), large_db: Math.round(peakFor("large_db")) },
      targets: {
        zstd_vs_raw_max: 1.25,
        gzip_vs_raw_max: 1.7,
        peer_vs_zstd_min: 1.6,
        cpu_zstd_vs_shell_zstd_max: 1.5,
        restore_vs_pg_restore_max: 1.15,
        drill_vs_manual_max: 1.3,
        peak_rss_mib_max: 160,
      },
    };
    writeFileSync(RESULTS, JSON.stringify(result, null, 2) + "\n");
    console.log(`\nratios (${ref}, medians): ${JSON.stringify(result.ratios)}`);
    console.log(`CPU-s per GB of logical dump: ${JSON.stringify(result.cpu_s_per_gb)}`);
    console.log(`peak RSS of pgseal backups (MiB): ${JSON.stringify(result.peak_rss_mib)}`);
    console.log(`wrote ${RESULTS}`);
  } finally {
    await Promise.allSettled([pg.stop(), swift.stop(), discard.stop()]);
  }
}

await main();
