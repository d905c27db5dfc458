// `npm run dev`: `wrangler dev` (containers off) with the streamer as a local process, a local S3 store (Swift) and a
// sample PostgreSQL; secrets through a generated .dev.vars. `-- --containers`: the real container image under Docker
// instead of the local streamer (wrangler.containers.jsonc). Ctrl-C stops everything it started.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { localWorkerSettings } from "../test/harness/local-worker.ts";
import { freePorts } from "../test/harness/ports.ts";
import { startPostgres } from "../test/harness/postgres.ts";
import { startS3 } from "../test/harness/s3.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { CONTAINERS_CONFIG, devContainers } from "./container-tier/dev-containers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DEV_VARS = `${ROOT}.dev.vars`;
const MARKER = "# written by `npm run dev`: rewritten on every run (delete this line to keep your own)";
/** `--port N`, else PORT, else wrangler's usual 8787. */
function portArg(): number {
  const i = process.argv.indexOf("--port");
  const v = i === -1 ? (process.argv.find((a) => a.startsWith("--port="))?.slice("--port=".length) ?? process.env.PORT ?? "8787") : process.argv[i + 1];
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65_535) {
    console.error(`✗ dev: --port (or PORT) must be a port number 1-65535, not '${v ?? ""}'`);
    process.exit(2);
  }
  return n;
}
const WRANGLER_PORT = portArg();
const BUCKET = "pgseal-dev";
const CONTAINERS = process.argv.includes("--containers");

const cleanups: (() => Promise<void>)[] = [];
const stopChild = (child: ChildProcess) => async () => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
};

function dotenvLine(name: string, value: string): string {
  // Single quotes: dotenv takes the value literally (JSON keeps its double quotes and backslashes).
  if (/['\n]/.test(value)) throw new Error(`${name} cannot be written to .dev.vars: it contains a single quote or a newline`);
  return `${name}='${value}'`;
}

/** Fails before anything starts when the port is taken, instead of after PostgreSQL and Swift are up. */
async function assertPortFree(port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === "EADDRINUSE" ? `port ${port} is in use: pick another with 'npm run dev -- --port N'` : `cannot listen on 127.0.0.1:${port}: ${e.message}`)),
    );
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
  });
}

async function main(): Promise<void> {
  await assertPortFree(WRANGLER_PORT);
  if (existsSync(DEV_VARS) && !readFileSync(DEV_VARS, "utf8").startsWith(MARKER)) {
    throw new Error(`.dev.vars exists and was not written by 'npm run dev': it holds your settings, so it is left alone. Move it aside (mv .dev.vars .dev.vars.mine) and run again.`);
  }
  console.log("▸ starting PostgreSQL (database 'demo' with sample rows) and Swift (bucket 'pgseal-dev')");
  const [pg, s3] = await Promise.all([startPostgres({ name: "dev" }), startS3()]);
  cleanups.push(
    () => pg.stop(),
    () => s3.stop(),
  );
  const sourceUrl = await pg.createDatabase("demo");
  await pg.psql("create table items(id int primary key, name text); insert into items select g, 'item ' || g from generate_series(1, 10000) g;", "demo");
  await s3.createBucket(BUCKET);

  let streamerUrl = "";
  let streamer: ChildProcess | undefined;
  let dbUrl = sourceUrl;
  let s3Endpoint = s3.endpoint;
  let dockerEnv: Record<string, string> = {};
  if (CONTAINERS) {
    console.log("▸ real containers: preparing the images Docker needs (stand-ins where a registry is unreachable)");
    const c = await devContainers((line) => console.log(`  ${line}`));
    cleanups.push(() => c.close());
    // Containers cannot reach 127.0.0.1 of this host: PostgreSQL and Swift through Docker's bridge gateway.
    [dbUrl, s3Endpoint] = [await c.reachable(sourceUrl), await c.reachable(s3.endpoint)];
    dockerEnv = c.env;
  } else {
    const [streamerPort] = await freePorts(1);
    console.log(`▸ starting the streamer: node container/src/server.ts on 127.0.0.1:${streamerPort}`);
    streamer = spawn(process.execPath, [`${ROOT}container/src/server.ts`], {
      env: { PATH: process.env.PATH ?? "", PORT: String(streamerPort), STREAMER_HOST: "127.0.0.1" },
      stdio: ["ignore", "inherit", "inherit"],
    });
    cleanups.push(stopChild(streamer));
    streamerUrl = `http://127.0.0.1:${streamerPort}`;
  }

  const token = randomBytes(24).toString("base64url");
  const { vars, secrets } = localWorkerSettings(
    {
      s3: { endpoint: s3Endpoint, bucket: BUCKET, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      prefix: "dev",
      keyring: generateKey("dev").entry,
      streamerUrl,
      databases: { demo: { url: dbUrl, schedule: "0 * * * *" } },
    },
    token,
  );
  if (CONTAINERS) delete secrets.STREAMER_URL; // the real container, not the local seam
  // .dev.vars values override wrangler.jsonc vars: PGSEAL_CONFIG points at the local bucket instead of R2.
  const lines = [MARKER, dotenvLine("PGSEAL_CONFIG", JSON.stringify(vars.PGSEAL_CONFIG)), ...Object.entries(secrets).map(([k, v]) => dotenvLine(k, v))];
  writeFileSync(DEV_VARS, lines.join("\n") + "\n", { mode: 0o600 });
  cleanups.push(async () => rmSync(DEV_VARS, { force: true })); // its ports and token die with this run

  console.log(
    `▸ wrangler dev on http://127.0.0.1:${WRANGLER_PORT} (${CONTAINERS ? `containers on: ${CONTAINERS_CONFIG}; the first start builds the image` : "containers off; the seam forwards to the streamer"})\n`,
  );
  console.log(`  TOKEN='${token}'`);
  console.log(`  curl -s -H "authorization: Bearer $TOKEN" http://127.0.0.1:${WRANGLER_PORT}/databases`);
  console.log(`  curl -s -X POST -H "authorization: Bearer $TOKEN" http://127.0.0.1:${WRANGLER_PORT}/backups/demo`);
  console.log(`  curl -s "http://127.0.0.1:${WRANGLER_PORT}/cdn-cgi/handler/scheduled?cron=*/5+*+*+*+*"   # the cron watchdog\n`);
  const config = CONTAINERS ? ["-c", CONTAINERS_CONFIG] : [];
  const wrangler = spawn(
    process.execPath,
    [`${ROOT}node_modules/wrangler/bin/wrangler.js`, "dev", ...config, "--ip", "127.0.0.1", "--port", String(WRANGLER_PORT), "--show-interactive-dev-session=false"],
    {
      cwd: ROOT,
      env: { ...process.env, ...dockerEnv, CLOUDFLARE_CF_FETCH_ENABLED: "false" },
      stdio: ["ignore", "inherit", "inherit"],
    },
  );
  cleanups.push(stopChild(wrangler));
  const ended = await new Promise<string>((resolve) => {
    // `on`, not `once`: npm passes a second signal along while we clean up, and that must not kill us half-way.
    process.on("SIGINT", () => resolve("Ctrl-C"));
    process.on("SIGTERM", () => resolve("SIGTERM"));
    wrangler.once("exit", (code, signal) => {
      // wrangler failing (a port taken after our check, a bad config) must fail `npm run dev` too.
      if (code !== 0) process.exitCode = 1;
      resolve(`wrangler dev exited (${code ?? signal})${code !== 0 ? `: it failed; if port ${WRANGLER_PORT} is taken, use --port N` : ""}`);
    });
    streamer?.once("exit", (code) => resolve(`the streamer exited (${code})`));
  });
  console.log(`\n▸ ${ended}: stopping wrangler, ${CONTAINERS ? "its containers" : "the streamer"}, PostgreSQL and Swift`);
}

try {
  await main();
} catch (e) {
  process.exitCode = 1;
  console.error(`✗ dev failed: ${e instanceof Error ? e.message : String(e)}`);
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
}
