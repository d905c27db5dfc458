/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// The dashboard's routes: cookie sessions instead of the bearer token, CSRF on every form, handlers inline on their paths.
import { Hono, type Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { isDashboardPath, tokensEqual } from "../api/auth.ts";
import { adminTokenProblem, loadConfig, NAME_RE } from "../config.ts";
import { JOB_ID_RE } from "../shared/contract/streamer-job.ts";
import type { JobView } from "../do/rpc-types.ts";
import { backupsStub, slotsStub } from "../do/stubs.ts";
import { mapLimit } from "../map-limit.ts";
import { renderReportHtml } from "../report/render-html.ts";
import { gatherReport } from "../report/monthly.ts";
import { ACCESS_HEADER, verifyAccessJwt } from "./access.ts";
import { JobPage, progressFacts } from "./job-page.tsx";
import { Layout, STATE_CLASS } from "./layout.tsx";
import { DatabasePage, LoginPage, OverviewPage } from "./pages.tsx";
import { mintSession, readSession, SESSION_COOKIE, SESSION_TTL_SECONDS, type Session } from "./session.ts";
import { isActiveJobState } from "../shared/contract/job-states.ts";

type DashEnv = { Bindings: Env; Variables: { session: Session } };
const RECENT_JOBS = 10;
const OVERVIEW_CONCURRENCY = 25;

export const dashboard = new Hono<DashEnv>();

const adminToken = (env: Env) => {
  const t = (env as unknown as Record<string, unknown>).ADMIN_TOKEN;
  // A weak token keeps the dashboard closed like a missing one (GET /health says why).
  return typeof t === "string" && t !== "" && adminTokenProblem(t) === null ? t : null;
};

/** A POST from another site carries its own Origin: refuse it before looking at anything else. */
function crossSite(c: Context): boolean {
  const origin = c.req.header("origin");
  const site = c.req.header("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return true;
  if (origin === undefined || origin === "null") return false;
  try {
    return new URL(origin).host !== new URL(c.req.url).host;
  } catch {
    // No browser sends this: refuse it like a cross-site request, and leave a trace.
    console.warn(`pgseal: dashboard ${c.req.method} ${c.req.path} refused: unparsable Origin header`);
    return true;
  }
}

/** The POSTed form, or null (logged) when the body cannot be parsed: the caller answers 400, not 500. */
async function formOf(c: Context): Promise<Record<string, unknown> | null> {
  try {
    return await c.req.parseBody();
  } catch (e) {
    console.warn(`pgseal: dashboard ${c.req.method} ${c.req.path} refused: malformed form body (${e instanceof Error ? e.message : String(e)})`);
    return null;
  }
}

const malformed = (c: Context) => c.text("malformed form body: submit the form from the dashboard's own page", 400);

function page(c: Context, status: number, body: unknown) {
  return c.html(`<!doctype html>${body}`, status as 200);
}

dashboard.onError((err, c) =>
  page(
    c,
    500,
    <Layout title="Error" signedIn={false}>
      <h1>Something went wrong</h1>
      <p class="error">{err instanceof Error && "code" in err ? `${String(err.code)}: ${err.message}` : "internal error (see the Worker's logs)"}</p>
      <p>
        <a href="/">Back to the databases</a>
      </p>
    </Layout>,
  ),
);

dashboard.get("/login", (c) => page(c, 200, <LoginPage error={adminToken(c.env) ? undefined : "ADMIN_TOKEN is not set, so the dashboard stays closed: wrangler secret put ADMIN_TOKEN"} />));

dashboard.post("/login", async (c) => {
  const expected = adminToken(c.env);
  if (crossSite(c)) return c.text("cross-site sign-in refused", 403);
  if (!expected) return page(c, 503, <LoginPage error="ADMIN_TOKEN is not set, so the dashboard stays closed: wrangler secret put ADMIN_TOKEN" />);
  const form = await formOf(c);
  if (!form) return malformed(c);
  const given = typeof form.token === "string" ? form.token : "";
  if (!(await tokensEqual(given, expected))) return page(c, 401, <LoginPage error="That is not the admin token." />);
  const { value } = await mintSession(expected);
  setCookie(c, SESSION_COOKIE, value, { httpOnly: true, secure: true, sameSite: "Strict", path: "/", maxAge: SESSION_TTL_SECONDS });
  return c.redirect("/", 303);
});

// Everything below needs a session; state-changing requests also the session's CSRF token.
dashboard.use("*", async (c, next) => {
  // Only the dashboard's own pages take a session; the admin API answers everything else.
  if (!isDashboardPath(c.req.path) || c.req.path === "/login") return next();
  const token = adminToken(c.env);
  let session = token ? await readSession(token, getCookie(c, SESSION_COOKIE)) : null;
  // A signed cookie stays valid until it expires unless its sign-out is remembered.
  if (session && (await slotsStub(c.env).isSessionRevoked(session.csrf))) session = null;
  const access = loadConfig(c.env).config.access;
  if (!session && token && access && (await verifyAccessJwt(c.req.header(ACCESS_HEADER), access))) {
    // Access vouches for this user: give them a session, so forms carry a CSRF token like everyone's.
    const minted = await mintSession(token);
    setCookie(c, SESSION_COOKIE, minted.value, { httpOnly: true, secure: true, sameSite: "Strict", path: "/", maxAge: SESSION_TTL_SECONDS });
    session = minted.session;
  }
  if (!session) {
    if (c.req.method === "GET") return c.redirect("/login", 303);
    return c.text("no valid session: sign in at /login", 401);
  }
  if (c.req.method !== "GET" && c.req.method !== "HEAD") {
    if (crossSite(c)) return c.text("cross-site request refused", 403);
    const form = await formOf(c);
    if (!form) return malformed(c);
    if (typeof form.csrf !== "string" || !(await tokensEqual(form.csrf, session.csrf))) return c.text("missing or wrong CSRF token: reload the page and try again", 403);
  }
  c.set("session", session);
  await next();
});

dashboard.post("/logout", async (c) => {
  const session = c.get("session");
  await slotsStub(c.env).revokeSession(session.csrf, session.exp * 1000);
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: true });
  return c.redirect("/login", 303);
});

dashboard.get("/", async (c) => {
  const names = Object.keys(loadConfig(c.env).config.databases);
  const rows = await mapLimit(names, OVERVIEW_CONCURRENCY, async (db) => {
    const stub = backupsStub(c.env, db);
    const [status, list] = await Promise.all([stub.status(), stub.listJobs({ limit: RECENT_JOBS })]);
    return { status, recent: list.ok ? [...list.value.jobs].reverse() : [] };
  });
  return page(c, 200, <OverviewPage rows={rows} csrf={c.get("session").csrf} nowMs={Date.now()} />);
});

function dbParam(c: Context<DashEnv>): string | null {
  const db = c.req.param("db") ?? "";
  return NAME_RE.test(db) && loadConfig(c.env).config.databases[db] ? db : null;
}

const notFound = (c: Context<DashEnv>, what: string) =>
  page(
    c,
    404,
    <Layout title="Not found" signedIn csrf={c.get("session").csrf}>
      <h1>Not found</h1>
      <p>{what}</p>
    </Layout>,
  );

dashboard.get("/db/:db", async (c) => {
  const db = dbParam(c);
  if (!db) return notFound(c, "No such database in PGSEAL_CONFIG.");
  const stub = backupsStub(c.env, db);
  const [status, list] = await Promise.all([stub.status(), stub.listJobs({ limit: 50 })]);
  return page(c, 200, <DatabasePage status={status} jobs={list.ok ? list.value.jobs : []} csrf={c.get("session").csrf} error={c.req.query("error")} />);
});

dashboard.post("/db/:db/backup", async (c) => {
  const db = dbParam(c);
  if (!db) return notFound(c, "No such database in PGSEAL_CONFIG.");
  const r = await backupsStub(c.env, db).startBackup({ trigger: "manual" });
  if (!r.ok) return c.redirect(`/db/${encodeURIComponent(db)}?error=${encodeURIComponent(`${r.error.code}: ${r.error.message}`)}`, 303);
  return c.redirect(`/db/${encodeURIComponent(db)}/jobs/${r.value.jobId}`, 303);
});

async function jobOf(c: Context<DashEnv>): Promise<{ db: string; job: JobView } | null> {
  const db = dbParam(c);
  const id = c.req.param("id") ?? "";
  if (!db || !JOB_ID_RE.test(id)) return null;
  const r = await backupsStub(c.env, db).getJob(id);
  return r.ok ? { db, job: r.value } : null;
}

dashboard.get("/db/:db/jobs/:id", async (c) => {
  const found = await jobOf(c);
  if (!found) return notFound(c, "No such job.");
  return page(c, 200, <JobPage db={found.db} job={found.job} csrf={c.get("session").csrf} />);
});

dashboard.get("/db/:db/jobs/:id/live", async (c) => {
  const found = await jobOf(c);
  if (!found) return c.json({ error: "no such job" }, 404);
  const j = found.job;
  const active = isActiveJobState(j.state);
  return c.json({ state: j.state, stateClass: STATE_CLASS[j.state] ?? "run", active, ...progressFacts(j) });
});

dashboard.post("/db/:db/jobs/:id/cancel", async (c) => {
  const found = await jobOf(c);
  if (!found) return notFound(c, "No such job.");
  await backupsStub(c.env, found.db).cancel(found.job.id);
  return c.redirect(`/db/${encodeURIComponent(found.db)}/jobs/${found.job.id}`, 303);
});

dashboard.get("/report", (c) => c.redirect(`/report/${new Date().toISOString().slice(0, 7)}`, 303));

dashboard.get("/report/:month", async (c) => {
  const month = c.req.param("month");
  if (!/^\d{4}-\d{2}$/.test(month)) return notFound(c, "A report month looks like 2026-11.");
  const html = renderReportHtml(await gatherReport(c.env, month));
  // The same document as GET /reports/:month, with a way back and a print button that the print stylesheet hides.
  const bar = `<p class="no-print" style="font:16px system-ui;margin:0 0 1rem"><a href="/">← Databases</a> · <button type="button" onclick="window.print()">Print</button></p><style>@media print{.no-print{display:none}}</style>`;
  return c.html(html.replace(/<body([^>]*)>/, `<body$1>${bar}`));
});
