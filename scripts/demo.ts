// `npm run demo`: the whole deployment on this machine — a PostgreSQL with sample data, a local S3 server (Swift),
// the streamer, the Worker (wrangler.jsonc, containers off) — one backup over the admin API, then a restore with the CLI.
// --keep leaves everything up until Ctrl-C so the printed commands can be tried; --port puts the Worker on a fixed port.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startStreamer } from "../container/src/server.ts";
import { formatBytes } from "../cli/progress.ts";
import { contentProof, describeProof } from "../src/shared/catalog/drill-record.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { startLocalWorker, type ApiJob } from "../test/harness/local-worker.ts";
import { startPostgres } from "../test/harness/postgres.ts";
import { startS3 } from "../test/harness/s3.ts";

const USAGE = `usage: npm run demo [-- [--keep] [--port N]]

The whole deployment on this machine: a throwaway PostgreSQL with sample data, a local S3 server
(Swift), the streamer and the Worker (wrangler.jsonc, containers off); one backup through the admin
API, drilled and sealed, then restored with 'pgseal restore' and counted.

  --keep      keep everything running until Ctrl-C, to try the printed commands
              (Ctrl-C then removes everything: servers, temp dirs, the key file)
  --port N    serve the Worker on 127.0.0.1:N (default: a free port)
  --help      this help`;

function parseArgs(argv: string[]): { keep: boolean; port: number | undefined } {
  let keep = false;
  let port: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else if (a === "--keep") keep = true;
    else if (a === "--port" || a.startsWith("--port=")) {
      const v = a === "--port" ? argv[++i] : a.slice("--port=".length);
      port = Number(v);
      if (!Number.isInteger(port) || port < 1 || port > 65_535) usageError(`--port must be a port number 1-65535, not '${v ?? ""}'`);
    } else usageError(`unknown argument '${a}'`);
  }
  return { keep, port };
}

function usageError(message: string): never {
  console.error(`demo: ${message}\n\n${USAGE}`);
  process.exit(2);
}

const { keep, port } = parseArgs(process.argv.slice(2));
const BUCKET = "pgseal-demo";
// As in the example config of README's deploy steps, so `pgseal list --prefix pgseal` reads the same in both.
const PREFIX = "pgseal";
const POLL_MS = 500;
const JOB_DEADLINE_MS = 10 * 60_000;
const BIN = new URL("../bin/pgseal.mjs", import.meta.url).pathname;
const step = (s: string) => console.log(`\n▸ ${s}`);
const cleanups: (() => Promise<void>)[] = [];

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } }, (error, _stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr })),
  );
}

/** A fixed port in front of the Worker (wrangler's harness picks its own): bound first, so a busy port fails before anything starts. */
async function listenOn(p: number): Promise<{ forwardTo(url: string): void; close(): Promise<void> }> {
  let target: URL | undefined;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!target) return client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => (client.destroy(), upstream.destroy(), sockets.delete(client), sockets.delete(upstream));
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === "EADDRINUSE" ? `port ${p} is in use: pick another with --port N, or leave --port out for a free one` : `cannot listen on 127.0.0.1:${p}: ${e.message}`)),
    );
    server.listen(p, "127.0.0.1", () => resolve());
  });
  return {
    forwardTo: (url) => void (target = new URL(url)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const fixedPort = port === undefined ? undefined : await listenOn(port);
  if (fixedPort) cleanups.push(() => fixedPort.close());
  step("starting a throwaway PostgreSQL and a local S3 server (OpenStack Swift)");
  const [pg, s3] = await Promise.all([startPostgres({ name: "demo" }), startS3()]);
  cleanups.push(
    () => pg.stop(),
    () => s3.stop(),
  );
  const sourceUrl = await pg.createDatabase("demo");
  await pg.psql(
    `create table customers(id int primary key, name text, joined timestamptz);
     insert into customers select g, 'customer ' || g, timestamptz '2024-01-01' + g * interval '1 hour' from generate_series(1, 50000) g;
     create table orders(id bigserial primary key, customer_id int references customers, total numeric(12,2), items jsonb);
     insert into orders(customer_id, total, items) select 1 + g % 50000, (g % 997) * 1.25, jsonb_build_object('sku', g % 313, 'qty', g % 7) from generate_series(1, 200000) g;`,
    "demo",
  );
  await s3.createBucket(BUCKET);
  const target = { endpoint: s3.endpoint, bucket: BUCKET, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  const keyring = generateKey("demo").entry;
  // The key goes to a private file, not the terminal: even a demo should not teach pasting keys around.
  const keyDir = mkdtempSync(join(tmpdir(), "pgseal-demo-key-"));
  const keyringFile = join(keyDir, "keyring");
  writeFileSync(keyringFile, keyring + "\n", { mode: 0o600 });
  const removeKey = () => rmSync(keyDir, { recursive: true, force: true });
  cleanups.push(async () => removeKey());
  // Also on 'exit': on Ctrl-C, wrangler's harness ends the process itself (process.exit) before our cleanups run.
  process.on("exit", removeKey);

  step("starting the streamer (what the container runs) and the Worker (wrangler.jsonc, containers off, STREAMER_URL → streamer)");
  const streamer = await startStreamer({ port: 0, host: "127.0.0.1", log: () => {} });
  cleanups.push(() => streamer.stop());
  const started = await startLocalWorker({ s3: target, prefix: PREFIX, keyring, streamerUrl: streamer.url, databases: { demo: { url: sourceUrl } } });
  cleanups.push(() => started.close());
  fixedPort?.forwardTo(started.url);
  const worker = fixedPort ? { ...started, url: `http://127.0.0.1:${port}` } : started;
  console.log(`  Worker    ${worker.url}  (admin token in $TOKEN below)\n  streamer  ${streamer.url}`);

  step(`POST ${worker.url}/backups/demo`);
  const post = await worker.api<{ jobId: string; status_url: string; error?: { code: string; message: string } }>("/backups/demo", { method: "POST" });
  if (post.status !== 202) throw new Error(`POST /backups/demo answered ${post.status}: ${post.body.error?.code} ${post.body.error?.message}`);
  console.log(`  202 → job ${post.body.jobId}; polling GET ${post.body.status_url}`);

  const deadline = Date.now() + JOB_DEADLINE_MS;
  let job: ApiJob;
  let lastLine = "";
  for (;;) {
    const r = await worker.api<ApiJob>(post.body.status_url);
    if (r.status !== 200) throw new Error(`GET ${post.body.status_url} answered ${r.status}`);
    job = r.body;
    const p = job.progress;
    const line =
      `  ${job.state.padEnd(9)}` +
      (p
        ? ` dumped ${formatBytes(p.bytesDumped).padStart(9)} · compressed ${formatBytes(p.bytesCompressed).padStart(9)} · uploaded ${formatBytes(p.bytesUploaded).padStart(9)} · ${(p.elapsedMs / 1000).toFixed(1)}s${p.drill ? ` · drilled ${formatBytes(p.drill.bytesRead)} of ${formatBytes(p.drill.bytesTotal)} (${p.drill.step})` : p.table ? ` · ${p.table}` : ""}`
        : "");
    if (process.stdout.isTTY) process.stdout.write(`\r\x1b[K${line}`);
    else if (line !== lastLine) console.log(line);
    lastLine = line;
    if (["uploaded", "sealed", "failed", "drill-failed", "drill-skipped", "cancelled"].includes(job.state)) break;
    if (Date.now() > deadline) throw new Error(`the job did not finish within ${JOB_DEADLINE_MS / 60_000} minutes (state ${job.state})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  if (process.stdout.isTTY) process.stdout.write("\n");
  if (!job.manifest || !job.artifactKey) {
    throw new Error(`the backup ended ${job.state}${job.error ? `: ${job.error.code}: ${job.error.message}` : ""}`);
  }
  const m = job.manifest;
  console.log(`  phases    ${job.events.map((e) => e.to).join(" → ")}`);
  console.log(`  artifact  ${job.artifactKey}\n  manifest  ${job.manifestKey}`);
  console.log(
    `  sizes     dump ${formatBytes(m.dump.bytes)} → ${m.compression.algorithm} ${formatBytes(m.compression.bytes)} → stored ${formatBytes(m.artifact.bytes)} (${m.artifact.parts} part${m.artifact.parts === 1 ? "" : "s"})`,
  );
  console.log(`  timings   dump ${m.timings.dumpSeconds}s, total ${m.timings.totalSeconds}s · sha256 ${m.artifact.sha256.slice(0, 16)}…`);
  const d = job.drillRecord;
  if (d) {
    console.log(`  drill     ${d.verdict} (${d.code ?? "every count and digest matches"}): restored from the bucket into a throwaway cluster in ${d.restoreSeconds}s, compared in ${d.countSeconds}s`);
    console.log(`  proven    ${describeProof(contentProof(d.comparison))}`);
    for (const t of d.comparison?.tables ?? []) console.log(`            ${t.table.padEnd(20)} dump ${String(t.expected).padStart(7)} · restored ${String(t.actual ?? "missing").padStart(7)}`);
  }
  if (job.state !== "sealed") throw new Error(`the backup is stored but ended ${job.state}: ${job.error?.code}: ${job.error?.message}`);

  const cliEnv = {
    PGSEAL_S3_ENDPOINT: s3.endpoint,
    PGSEAL_S3_BUCKET: BUCKET,
    PGSEAL_S3_REGION: s3.region,
    PGSEAL_S3_ACCESS_KEY_ID: s3.accessKeyId,
    PGSEAL_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    PGSEAL_KEYRING_FILE: keyringFile,
  };
  step("restoring it with the CLI (pgseal restore) into a new database 'demo_restored'");
  await pg.createDatabase("demo_restored");
  const restoreStarted = performance.now();
  const restore = await runCli(["restore", job.artifactKey, "--prefix", PREFIX, "--target", pg.urlFor("demo_restored")], cliEnv);
  if (restore.code !== 0) throw new Error(`pgseal restore failed:\n${restore.stderr}`);
  const count = (db: string) => pg.psql("select (select count(*) from customers) || '/' || (select count(*) from orders)", db);
  const [before, after] = await Promise.all([count("demo"), count("demo_restored")]);
  console.log(`  restored in ${((performance.now() - restoreStarted) / 1000).toFixed(1)}s · customers/orders: source ${before}, restored ${after}`);
  if (before !== after) throw new Error("restored row counts differ from the source");

  // An empty database reachable over the cluster's unix socket (trust auth there): no password to print.
  await pg.createDatabase("demo_try");
  const tryUrl = `postgresql://${pg.superuser}@localhost/demo_try?host=${encodeURIComponent(pg.socketDir)}&port=${pg.port}`;
  step(keep ? "try it yourself (in another terminal):" : "try it yourself (run the demo with --keep to keep the servers up):");
  console.log(
    [
      `  dashboard  ${worker.url}/  (sign in with the token below)`,
      `  report     ${worker.url}/report`,
      "",
      `  TOKEN='${worker.token}'`,
      `  curl -s -H "authorization: Bearer $TOKEN" ${worker.url}/databases`,
      `  curl -s -X POST -H "authorization: Bearer $TOKEN" ${worker.url}/backups/demo`,
      `  curl -s -H "authorization: Bearer $TOKEN" ${worker.url}/metrics`,
      "",
      `  export PGSEAL_S3_ENDPOINT=${s3.endpoint} PGSEAL_S3_BUCKET=${BUCKET} PGSEAL_S3_REGION=${s3.region} \\`,
      `    PGSEAL_S3_ACCESS_KEY_ID='${s3.accessKeyId}' PGSEAL_S3_SECRET_ACCESS_KEY='${s3.secretAccessKey}' \\`,
      `    PGSEAL_KEYRING_FILE=${keyringFile}`,
      // --name, not this backup's key: the key goes stale once retention removes that backup.
      `  npx pgseal list --prefix ${PREFIX}`,
      `  npx pgseal restore --name demo --prefix ${PREFIX} --target '${tryUrl}'`,
    ].join("\n"),
  );
  console.log("  (a throwaway token and the local test server's fixed credentials; everything, key file included, goes away when the demo ends" + (keep ? ": press Ctrl-C to end it)" : ")"));
  if (keep) {
    // The servers are child processes that do not hold the event loop open: this timer does.
    const alive = setInterval(() => {}, 60_000);
    // `on`, not `once`: a second Ctrl-C (or npm passing one along) must not cut the cleanup short.
    await new Promise<void>((resolve) => process.on("SIGINT", () => resolve()));
    clearInterval(alive);
  }
}

try {
  await main();
  console.log("\n✓ demo finished: backup taken through the Worker, drilled and sealed, restored again with the CLI and counted");
} catch (e) {
  process.exitCode = 1;
  console.error(`\n✗ demo failed: ${e instanceof Error ? e.message : String(e)}`);
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
}
