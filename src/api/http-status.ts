// Error codes to HTTP statuses, in this one place (docs/ERRORS.md lists them); free of Worker types so Node tests can read it.
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorCode } from "../shared/errors.ts";

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
