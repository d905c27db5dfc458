// The admin API (README "Admin API", docs/ARCHITECTURE.md): Hono routes inline on their paths; auth in auth.ts, error responses in errors.ts.
import { Hono } from "hono";
import { loadConfig, NAME_RE } from "../config.ts";
import { JOB_ID_RE } from "../shared/contract/streamer-job.ts";
import type { JobPage } from "../do/rpc-types.ts";
import { backupsStub } from "../do/stubs.ts";
import { mapLimit } from "../map-limit.ts";
import { destinationClient } from "../destination-client.ts";
import { gatherReport } from "../report/monthly.ts";
import { OPENMETRICS_CONTENT_TYPE, renderMetrics } from "../metrics.ts";
import { planPrune } from "../shared/catalog/prune.ts";
import { renderReportHtml } from "../report/render-html.ts";
import { dashboard } from "../dashboard/routes.tsx";
import { isDashboardPath, requireAdmin } from "./auth.ts";
import { ApiError, errorResponse, unwrap } from "./errors.ts";

const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;
/** Status fan-out for GET /databases, like the watchdog's. */
const STATUS_CONCURRENCY = 25;

type AppEnv = { Bindings: Env };

/** A configured database named by the `db` path parameter, or the right 400/404. */
function configuredDb(env: Env, db: string): string {
  if (!NAME_RE.test(db)) throw new ApiError("BAD_REQUEST", "db: a database name is 1-63 letters, digits, '_' or '-', starting with a letter or digit");
  if (!loadConfig(env).config.databases[db]) throw new ApiError("DATABASE_NOT_FOUND", `no database '${db}' in PGSEAL_CONFIG`);
  return db;
}

function jobIdParam(id: string): string {
  if (!JOB_ID_RE.test(id)) throw new ApiError("BAD_REQUEST", "jobId: expected an id like 20261122T030000Z-1a2b");
  return id;
}

function pageSize(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PAGE_SIZE;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_PAGE_SIZE) throw new ApiError("BAD_REQUEST", `limit: a whole number from 1 to ${MAX_PAGE_SIZE}`);
  return n;
}

export const app = new Hono<AppEnv>();

app.onError((err) => errorResponse(err));
app.notFound(() => errorResponse(new ApiError("NOT_FOUND", "no such route: see GET /health and the README for the API")));

// Liveness and configuration problems (paths and secret NAMES only); the one route without auth.
app.get("/health", (c) => {
  const { config, problems } = loadConfig(c.env);
  return c.json({
    ok: problems.length === 0,
    service: "pgseal",
    databases: Object.keys(config.databases).length,
    destinations: Object.keys(config.destinations).length,
    problems,
  });
});

app.use("*", async (c, next) => (c.req.path === "/health" || isDashboardPath(c.req.path) ? next() : requireAdmin(c, next)));

app.get("/databases", async (c) => {
  const names = Object.keys(loadConfig(c.env).config.databases);
  const databases = await mapLimit(names, STATUS_CONCURRENCY, (db) => backupsStub(c.env, db).status());
  return c.json({ databases });
});

app.post("/backups/:db", async (c) => {
  const db = configuredDb(c.env, c.req.param("db"));
  const { jobId } = unwrap(await backupsStub(c.env, db).startBackup({ trigger: "manual" }));
  const statusUrl = `/backups/${db}/${jobId}`;
  return c.json({ jobId, status_url: statusUrl }, 202, { Location: statusUrl });
});

app.get("/backups/:db", async (c) => {
  const db = configuredDb(c.env, c.req.param("db"));
  const limit = pageSize(c.req.query("limit"));
  const before = c.req.query("before");
  if (before !== undefined && !JOB_ID_RE.test(before)) throw new ApiError("BAD_REQUEST", "before: expected a job id from a previous page's `next`");
  const page = unwrap<JobPage>(await backupsStub(c.env, db).listJobs({ limit, before }));
  const next = page.nextBefore ? `/backups/${db}?limit=${limit}&before=${page.nextBefore}` : null;
  return c.json({ db, jobs: page.jobs, next });
});

// Before /backups/:db/:jobId: "retention" is not a job id, but the more specific route reads clearer first.
app.get("/backups/:db/retention", async (c) => {
  const db = configuredDb(c.env, c.req.param("db"));
  const { config } = loadConfig(c.env);
  const entry = config.databases[db];
  const dest = config.destinations[entry.destination];
  const { plan } = await planPrune(destinationClient(c.env, dest), dest.prefix, db, entry.retention, new Date());
  return c.json(plan);
});

app.get("/backups/:db/:jobId", async (c) => {
  const db = configuredDb(c.env, c.req.param("db"));
  return c.json(unwrap(await backupsStub(c.env, db).getJob(jobIdParam(c.req.param("jobId")))));
});

app.get("/metrics", async (c) => {
  const names = Object.keys(loadConfig(c.env).config.databases);
  const databases = await mapLimit(names, STATUS_CONCURRENCY, (db) => backupsStub(c.env, db).metricsFacts());
  return c.body(renderMetrics({ now: Date.now(), databases }), 200, { "content-type": OPENMETRICS_CONTENT_TYPE });
});

app.get("/reports/:month", async (c) => {
  const month = c.req.param("month");
  if (!/^\d{4}-\d{2}$/.test(month)) throw new ApiError("BAD_REQUEST", "month: expected YYYY-MM, e.g. /reports/2026-11");
  const report = await gatherReport(c.env, month);
  if ((c.req.header("accept") ?? "").includes("application/json")) return c.json(report);
  return c.html(renderReportHtml(report));
});

app.delete("/backups/:db/:jobId", async (c) => {
  const db = configuredDb(c.env, c.req.param("db"));
  const result = unwrap(await backupsStub(c.env, db).cancel(jobIdParam(c.req.param("jobId"))));
  return c.json(result, 202);
});

// Last: its session middleware covers every path the API above did not answer.
app.route("/", dashboard);
