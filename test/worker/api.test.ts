// The admin API through the Worker's fetch handler: routes, bearer auth, input validation, and errors as JSON.
import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/api/app.ts";
import type { DatabaseBackups } from "../../src/do/database-backups.ts";
import { adminToken, api, backups, secretValues, waitFor } from "./helpers.ts";

const FUTURE_MS = 3_600_000;

/** A job that exists but will not run during the test: created an hour ahead, with no alarm armed. */
async function parkedJob(db: string): Promise<string> {
  return runInDurableObject(backups(db), (o: DatabaseBackups) => o.store.create(db, "manual", Date.now() + FUTURE_MS, "parked by the test").id);
}

async function finishedJobs(db: string, n: number): Promise<string[]> {
  return runInDurableObject(backups(db), (o: DatabaseBackups) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const job = o.store.create(db, "manual", Date.now() + i, `job ${i}`);
      o.store.transition(job, "cancelled", Date.now() + i, "ended by the test");
      ids.push(job.id);
    }
    return ids;
  });
}

describe("GET /health", () => {
  it("answers without a token, lists configuration problems by path, and shows no secret", async () => {
    const res = await api("/health", { token: null });
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(false);
    expect(res.body.databases).toBeGreaterThanOrEqual(200);
    expect(res.body.problems).toContainEqual({ path: "secrets.DATABASE_URL_API_A", message: "missing secret for database 'api-a': wrangler secret put DATABASE_URL_API_A" });
    const text = JSON.stringify(res.body);
    for (const secret of secretValues()) expect(text).not.toContain(secret);
  });
});

describe("auth", () => {
  const routes: [string, string][] = [
    ["GET", "/databases"],
    ["POST", "/backups/api-a"],
    ["GET", "/backups/api-a"],
    ["GET", "/backups/api-a/20261122T030000Z-1a2b"],
    ["DELETE", "/backups/api-a/20261122T030000Z-1a2b"],
    ["GET", "/no/such/route"],
  ];

  it("refuses every route but /health without a bearer token, with 401 and a WWW-Authenticate challenge", async () => {
    for (const [method, path] of routes) {
      const res = await api(path, { method, token: null });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.error.code).toBe("UNAUTHORIZED");
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="pgseal"');
    }
  });

  it("refuses a wrong token, including one that shares the right one's prefix", async () => {
    for (const token of ["nope", adminToken().slice(0, -1), `${adminToken()}x`]) {
      const res = await api("/databases", { token });
      expect(res.status).toBe(401);
      expect(res.body.error).toEqual({ code: "UNAUTHORIZED", message: "wrong bearer token" });
    }
  });

  it("stays closed with 503 and the reason when no ADMIN_TOKEN is configured", async () => {
    const noToken = { ...env, ADMIN_TOKEN: undefined } as unknown as Env;
    const res = await app.fetch(new Request("https://pgseal.test/databases", { headers: { authorization: "Bearer anything" } }), noToken, createExecutionContext());
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: { code: "AUTH_NOT_CONFIGURED", message: "ADMIN_TOKEN is not set, so the admin API stays closed: wrangler secret put ADMIN_TOKEN" } });
  });
});

describe("databases and backups", () => {
  it("lists every configured database with its schedule and next run", async () => {
    const res = await api("/databases");
    expect(res.status).toBe(200);
    const w7 = res.body.databases.find((d: { db: string }) => d.db === "w-007");
    expect(w7).toMatchObject({ configured: true, schedule: "0 0 1 1 *", enabled: true, destination: "swift", activeJob: null, lastBackup: null });
    expect(Date.parse(w7.nextRunAt)).toBeGreaterThan(Date.now());
  });

  it("starts a backup with 202, a status URL that answers, and a job that fails for its missing secret", async () => {
    const res = await api("/backups/api-a", { method: "POST" });
    expect(res.status).toBe(202);
    expect(res.body.status_url).toBe(`/backups/api-a/${res.body.jobId}`);
    expect(res.headers.get("location")).toBe(res.body.status_url);
    const job = await waitFor("the job to end", async () => {
      const r = await api(res.body.status_url);
      return r.body.state === "failed" ? r.body : undefined;
    });
    expect(job).toMatchObject({ id: res.body.jobId, db: "api-a", trigger: "manual", attempt: 1 });
    expect(job.error).toEqual({ code: "CONFIG_INVALID", message: "missing secrets: DATABASE_URL_API_A (wrangler secret put <NAME>)", retryable: false });
    expect(job.events.map((e: { to: string }) => e.to)).toEqual(["queued", "failed"]);
  });

  it("answers 409 with the active job's id while one is active, and cancels it on DELETE", async () => {
    const active = await parkedJob("api-b");
    const res = await api("/backups/api-b", { method: "POST" });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: "JOB_ACTIVE", activeJobId: active });
    const del = await api(`/backups/api-b/${active}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    expect(del.body).toEqual({ jobId: active, state: "cancelled" });
    const again = await api(`/backups/api-b/${active}`, { method: "DELETE" });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("JOB_NOT_ACTIVE");
  });

  it("pages through jobs newest first", async () => {
    const ids = (await finishedJobs("events", 5)).reverse();
    const seen: string[] = [];
    let next: string | null = "/backups/events?limit=2";
    const pageSizes: number[] = [];
    while (next) {
      const res = await api(next);
      expect(res.status).toBe(200);
      pageSizes.push(res.body.jobs.length);
      seen.push(...res.body.jobs.map((j: { id: string }) => j.id));
      next = res.body.next;
    }
    expect(pageSizes).toEqual([2, 2, 1]);
    expect(seen).toEqual(ids);
  });
});

describe("bad input", () => {
  it.each([
    ["GET", "/backups/api-a?limit=0", 400, "BAD_REQUEST", /^limit: /],
    ["GET", "/backups/api-a?limit=101", 400, "BAD_REQUEST", /^limit: /],
    ["GET", "/backups/api-a?limit=ten", 400, "BAD_REQUEST", /^limit: /],
    ["GET", "/backups/api-a?before=yesterday", 400, "BAD_REQUEST", /^before: /],
    ["GET", "/backups/api-a?before=20200101T000000Z-0000", 400, "BAD_REQUEST", /^before: no job/],
    ["POST", "/backups/-dash-first", 400, "BAD_REQUEST", /^db: /],
    ["POST", "/backups/not-configured", 404, "DATABASE_NOT_FOUND", /not-configured/],
    ["GET", "/backups/api-a/not-a-job-id", 400, "BAD_REQUEST", /^jobId: /],
    ["GET", "/backups/api-a/20200101T000000Z-0000", 404, "JOB_NOT_FOUND", /20200101T000000Z-0000/],
    ["DELETE", "/backups/api-a/20200101T000000Z-0000", 404, "JOB_NOT_FOUND", /20200101T000000Z-0000/],
    ["GET", "/no/such/route", 404, "NOT_FOUND", /no such route/],
  ])("%s %s answers %i %s naming the problem", async (method, path, status, code, message) => {
    const res = await api(path, { method });
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(Object.keys(res.body)).toEqual(["error"]);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toMatch(message);
  });
});

describe("Object.prototype names are never configured databases", () => {
  const NAMES = ["constructor", "valueOf", "toString", "hasOwnProperty", "isPrototypeOf", "__proto__"];
  it("answers 404 (or 400 for a name that is not a database name at all) on every route, never 202 or 500", async () => {
    for (const db of NAMES) {
      const expected = /^[A-Za-z0-9]/.test(db) ? 404 : 400;
      const routes: [string, string][] = [
        ["POST", `/backups/${db}`],
        ["GET", `/backups/${db}`],
        ["GET", `/backups/${db}/retention`],
        ["GET", `/backups/${db}/20261129T000000Z-abcd`],
        ["DELETE", `/backups/${db}/20261129T000000Z-abcd`],
      ];
      for (const [method, path] of routes) {
        const r = await api(path, { method });
        expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBe(expected);
        expect(r.body.error.code).toBe(expected === 404 ? "DATABASE_NOT_FOUND" : "BAD_REQUEST");
      }
    }
    const list = await api("/databases");
    expect(list.body.databases.map((d: { db: string }) => d.db)).not.toContain("constructor");
  });
});

describe("error statuses", () => {
  it("answers S3_UNAVAILABLE with 503, like every retryable outage", async () => {
    const { errorResponse, httpStatusOf } = await import("../../src/api/errors.ts");
    const { PgsealError } = await import("../../src/shared/errors.ts");
    expect(httpStatusOf("S3_UNAVAILABLE")).toBe(503);
    const res = errorResponse(new PgsealError("S3_UNAVAILABLE", "the bucket did not answer"));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: { code: "S3_UNAVAILABLE", message: "the bucket did not answer" } });
  });
});
