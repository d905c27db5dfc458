// Every error the admin API answers with: stable codes mapped to HTTP statuses in this one place.
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { RpcResult } from "../do/rpc-types.ts";
import { PgsealError, type ErrorCode } from "../shared/errors.ts";

const HTTP_STATUS: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  BAD_REQUEST: 400,
  USAGE: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  DATABASE_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  JOB_ACTIVE: 409,
  JOB_NOT_ACTIVE: 409,
  CONFIG_INVALID: 503,
  AUTH_NOT_CONFIGURED: 503,
  CONTAINER_LOST: 503,
  // The bucket did not answer: a retryable outage of a dependency, not a bug of ours.
  S3_UNAVAILABLE: 503,
  INTERNAL: 500,
};

export function httpStatusOf(code: ErrorCode): ContentfulStatusCode {
  return HTTP_STATUS[code] ?? 500;
}

/** A PgsealError with extra fields for the JSON body (e.g. activeJobId) and response headers. */
export class ApiError extends PgsealError {
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
    super(code, message);
    this.details = details;
    this.headers = headers;
  }
}

/** Turns a DatabaseBackups RPC answer into its value, or throws it as the ApiError it carries. */
export function unwrap<T>(r: RpcResult<T>): T {
  if (r.ok) return r.value;
  const { code, message, ...details } = r.error;
  throw new ApiError(code, message, details);
}

export function errorResponse(err: unknown): Response {
  if (!(err instanceof PgsealError)) {
    // No stack and no detail to the client: the message of an unexpected error may carry anything.
    console.error(`pgseal: unexpected error: ${err instanceof Error ? err.message : String(err)}`);
    err = new PgsealError("INTERNAL", "internal error (see the Worker's logs)");
  }
  const e = err as PgsealError;
  const details = e instanceof ApiError ? e.details : {};
  const headers = e instanceof ApiError ? e.headers : {};
  return Response.json({ error: { ...details, code: e.code, message: e.message } }, { status: httpStatusOf(e.code), headers });
}
