// Child process for cleanup.test.ts: starts Postgres and Swift, reports their PIDs, then ends as argv[2] says.
import { readFileSync } from "node:fs";
import { startPostgres } from "./postgres.ts";
import { startS3 } from "./s3.ts";

const mode = process.argv[2];
const [pg, s3] = await Promise.all([startPostgres({ name: "cleanup" }), startS3()]);
const postmaster = Number(readFileSync(`${pg.dataDir}/postmaster.pid`, "utf8").split("\n")[0]);
const backends = (await pg.psql("select pid from pg_stat_activity where pid <> pg_backend_pid()")).split("\n").map(Number);
// The root of Postgres' temp dir is the parent of its data dir.
const dirs = [pg.dataDir.replace(/\/data$/, ""), s3.dir];
process.stdout.write(`${JSON.stringify({ pids: [postmaster, ...backends, ...s3.pids], dirs })}\n`);

if (mode === "drain") {
  // Nothing left to do and stop() never called: the event loop drains and the process exits normally.
} else if (mode === "exit") {
  process.exit(0);
} else if (mode === "throw") {
  throw new Error("deliberate uncaught error");
} else if (mode === "signal") {
  setInterval(() => {}, 1_000); // stay alive until the parent's signal
} else if (mode === "exit-on-signal") {
  // What wrangler's test harness does on Ctrl-C: its own listener ends the process while our stop() is under way.
  process.on("SIGINT", () => process.exit(130));
  setInterval(() => {}, 1_000);
} else {
  throw new Error(`unknown mode ${mode}`);
}
