// Bearer-token auth for the admin API: ADMIN_TOKEN, compared in constant time; closed when unset.
import type { MiddlewareHandler } from "hono";
import { adminTokenProblem } from "../config.ts";
import { ApiError } from "./errors.ts";

async function digest(s: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
}

/** Hashing first gives equal-length inputs, so neither the content nor the length leaks through timing. */
export async function tokensEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/** The dashboard's pages (cookie sessions, src/dashboard/); the bearer token guards every other path but /health. */
export const isDashboardPath = (path: string) => /^\/($|login$|logout$|db\/|report(\/|$))/.test(path);

export const requireAdmin: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const expected = (c.env as unknown as Record<string, unknown>).ADMIN_TOKEN;
  if (typeof expected !== "string" || expected === "") {
    throw new ApiError("AUTH_NOT_CONFIGURED", "ADMIN_TOKEN is not set, so the admin API stays closed: wrangler secret put ADMIN_TOKEN");
  }
  // A guessable token is as good as none: closed, with /health naming the problem.
  const weak = adminTokenProblem(expected);
  if (weak) throw new ApiError("AUTH_NOT_CONFIGURED", `ADMIN_TOKEN is ${weak}, so the admin API stays closed`);
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("authorization") ?? "");
  if (!match || !(await tokensEqual(match[1], expected))) {
    throw new ApiError("UNAUTHORIZED", match ? "wrong bearer token" : "missing bearer token: send Authorization: Bearer <ADMIN_TOKEN>", {}, { "WWW-Authenticate": 'Bearer realm="pgseal"' });
  }
  await next();
};
