// Every error the admin API answers with: stable codes mapped to HTTP statuses in this one place.
import type { RpcResult } from "../do/rpc-types.ts";
import { PgsealError, type ErrorCode } from "../shared/errors.ts";
import { httpStatusOf } from "./http-status.ts";
export { httpStatusOf };

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
