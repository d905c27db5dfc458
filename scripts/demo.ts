// `npm run demo`: a real backup and restore on embedded defaults — a throwaway PostgreSQL with
// sample data, a local S3 server (Swift), the pgseal engine — then it stops everything it started.
// --keep leaves the servers up until Ctrl-C so the printed commands can be tried.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBackup } from "../container/src/backup.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { runRestore } from "../container/src/restore.ts";
import { formatBytes } from "../cli/progress.ts";
import { generateKey, parseKeyring } from "../src/shared/keyring.ts";
import { S3Client } from "../src/shared/s3.ts";
import { startPostgres } from "../test/harness/postgres.ts";
import { startS3 } from "../test/harness/s3.ts";

const keep = process.argv.includes("--keep");
const step = (s: string) => console.log(`\n▸ ${s}`);
const cleanups: (() => Promise<void>)[] = [];

async function main(): Promise<void> {
  step("starting a throwaway PostgreSQL and a local S3 server (OpenStack Swift)");
  const [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  cleanups.push(() => pg.stop(), () => s3.stop());
  const sourceUrl = await pg.createDatabase("demo");
  await pg.psql(
    `create table customers(id int primary key, name text, joined timestamptz);
     insert into customers select g, 'customer ' || g, timestamptz '2024-01-01' + g * interval '1 hour' from generate_series(1, 50000) g;
     create table orders(id bigserial primary key, customer_id int references customers, total numeric(12,2), items jsonb);
     insert into orders(customer_id, total, items) select 1 + g % 50000, (g % 997) * 1.25, jsonb_build_object('sku', g % 313, 'qty', g % 7) from generate_series(1, 200000) g;`,
    "demo",
  );
  await s3.createBucket("pgseal-demo");
  const target = { endpoint: s3.endpoint, bucket: "pgseal-demo", region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  const keyringText = generateKey("demo").entry;
  const keyring = parseKeyring(keyringText);
  // The key goes to a private file, not the terminal: even a demo should not teach pasting keys around.
  const keyDir = mkdtempSync(join(tmpdir(), "pgseal-demo-key-"));
  const keyringFile = join(keyDir, "keyring");
  writeFileSync(keyringFile, keyringText + "\n", { mode: 0o600 });
  cleanups.push(async () => rmSync(keyDir, { recursive: true, force: true }));

  let lastPhase = "";
  step("backing up database 'demo': pg_dump → zstd → AES-256-GCM → S3 multipart upload");
  const { manifest, manifestKey } = await runBackup(
    { db: "demo", databaseUrl: sourceUrl, s3: target, prefix: "demo", keyring, compression: "zstd" },
    {
      onProgress: (p) => {
        const line = `  ${p.phase.padEnd(9)} dumped ${formatBytes(p.bytesDumped).padStart(9)} · uploaded ${formatBytes(p.bytesUploaded).padStart(9)} · ${(p.elapsedMs / 1000).toFixed(1)}s`;
        if (process.stdout.isTTY) process.stdout.write(`\r${line}   `);
        else if (p.phase !== lastPhase) console.log(line);
        lastPhase = p.phase;
      },
    },
  );
  if (process.stdout.isTTY) process.stdout.write("\n");
  console.log(`  artifact  ${manifest.artifact.key}\n  manifest  ${manifestKey}`);
  console.log(`  sizes     dump ${formatBytes(manifest.dump.bytes)} → zstd ${formatBytes(manifest.compression.bytes)} → stored ${formatBytes(manifest.artifact.bytes)} (${manifest.artifact.parts} part)`);
  console.log(`  timings   dump ${manifest.timings.dumpSeconds}s, total ${manifest.timings.totalSeconds}s · sha256 ${manifest.artifact.sha256.slice(0, 16)}…`);

  step("restoring it into a new database 'demo_restored'");
  const restoredUrl = await pg.createDatabase("demo_restored");
  const r = await runRestore({ client: new S3Client(target, nodeHashing), manifest, keyring, targetUrl: restoredUrl });
  const count = (db: string) => pg.psql("select (select count(*) from customers) || '/' || (select count(*) from orders)", db);
  const [before, after] = await Promise.all([count("demo"), count("demo_restored")]);
  console.log(`  restored in ${r.seconds.toFixed(1)}s · customers/orders: source ${before}, restored ${after}`);
  if (before !== after) throw new Error("restored row counts differ from the source");

  // An empty database reachable over the cluster's unix socket (trust auth there): no password to print.
  await pg.createDatabase("demo_try");
  const tryUrl = `postgresql://${pg.superuser}@localhost/demo_try?host=${encodeURIComponent(pg.socketDir)}&port=${pg.port}`;
  step(keep ? "restore it yourself with the CLI (in another terminal):" : "restore it yourself with the CLI (run the demo with --keep to try it):");
  console.log(
    [
      `  PGSEAL_S3_ENDPOINT=${s3.endpoint} PGSEAL_S3_BUCKET=pgseal-demo PGSEAL_S3_REGION=${s3.region} \\`,
      `  PGSEAL_S3_ACCESS_KEY_ID='${s3.accessKeyId}' PGSEAL_S3_SECRET_ACCESS_KEY='${s3.secretAccessKey}' \\`,
      `  PGSEAL_KEYRING_FILE=${keyringFile} \\`,
      `  npx pgseal restore ${manifest.artifact.key} --prefix demo --target '${tryUrl}'`,
    ].join("\n"),
  );
  console.log("  (the local test server's fixed credentials; the servers and the key file go away when the demo ends" + (keep ? ": press Ctrl-C to end it)" : ")"));
  if (keep) {
    // The servers are child processes that do not hold the event loop open: this timer does.
    const alive = setInterval(() => {}, 60_000);
    await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
    clearInterval(alive);
  }
}

try {
  await main();
  console.log("\n✓ demo finished: backup written, restored and counted");
} catch (e) {
  process.exitCode = 1;
  console.error(`\n✗ demo failed: ${e instanceof Error ? e.message : String(e)}`);
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
}
