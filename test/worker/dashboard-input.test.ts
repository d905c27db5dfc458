// Dashboard POSTs with a malformed Origin or body: refused with a 4xx and logged, never a 500; a signed-out session stays out.
import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { mintSession, SESSION_COOKIE } from "../../src/dashboard/session.ts";
import { adminToken } from "./helpers.ts";

async function post(path: string, init: { cookie?: string; headers?: Record<string, string>; body?: BodyInit } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.cookie) headers.set("cookie", init.cookie);
  return exports.default.fetch(new Request(`https://pgseal.test${path}`, { method: "POST", headers, body: init.body ?? null, redirect: "manual" }));
}

async function session(): Promise<{ cookie: string; csrf: string }> {
  const { value, session } = await mintSession(adminToken());
  return { cookie: `${SESSION_COOKIE}=${value}`, csrf: session.csrf };
}

afterEach(() => vi.restoreAllMocks());

describe("dashboard input that is not what a browser sends", () => {
  it("answers Origin: garbage with 403 and logs it", async () => {
    const warn = vi.spyOn(console, "warn");
    const s = await session();
    const r = await post("/db/api-a/backup", { cookie: s.cookie, headers: { origin: "garbage" }, body: new URLSearchParams({ csrf: s.csrf }) });
    expect(r.status).toBe(403);
    const login = await post("/login", { headers: { origin: "garbage" }, body: new URLSearchParams({ token: "x" }) });
    expect(login.status).toBe(403);
    expect(warn.mock.calls.some((c) => String(c[0]).includes("unparsable Origin"))).toBe(true);
  });

  it("answers a malformed form body with 400 and logs it", async () => {
    const warn = vi.spyOn(console, "warn");
    const s = await session();
    const bad = { "content-type": "multipart/form-data; boundary=zzz" };
    const r = await post("/db/api-a/backup", { cookie: s.cookie, headers: bad, body: "--nope\r\nthis is not multipart" });
    expect(r.status).toBe(400);
    const login = await post("/login", { headers: bad, body: "--nope" });
    expect(login.status).toBe(400);
    expect(warn.mock.calls.some((c) => String(c[0]).includes("malformed form body"))).toBe(true);
  });
});

describe("signing out", () => {
  it("invalidates the session cookie at once: the same cookie no longer opens a page or posts a form", async () => {
    const s = await session();
    const open = await exports.default.fetch(new Request("https://pgseal.test/db/api-a", { headers: { cookie: s.cookie }, redirect: "manual" }));
    expect(open.status).toBe(200);
    const out = await post("/logout", { cookie: s.cookie, body: new URLSearchParams({ csrf: s.csrf }) });
    expect(out.status).toBe(303);
    const after = await exports.default.fetch(new Request("https://pgseal.test/db/api-a", { headers: { cookie: s.cookie }, redirect: "manual" }));
    expect(after.status).toBe(303);
    expect(after.headers.get("location")).toBe("/login");
    const replay = await post("/db/api-a/backup", { cookie: s.cookie, body: new URLSearchParams({ csrf: s.csrf }) });
    expect(replay.status).toBe(401);
  });
});
