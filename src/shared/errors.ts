// The one error type of pgseal: a stable code, a retryable flag, and a message safe to show.
// Callers branch on `code`, never on message text. Messages must never contain secrets:
// build them from redacted values only (see redact.ts).

export const ERROR_CODES = {
  // configuration and input
  CONFIG_INVALID: false,
  USAGE: false,
  /** The reader of standard output went away (`| head`): the CLI exits quietly with 141, as a tool killed by SIGPIPE does. */
  OUTPUT_CLOSED: false,
  /** A file pgseal would write already exists (it never overwrites keys). */
  FILE_EXISTS: false,
  // keys and the artifact format (docs/FORMAT.md)
  KEY_INVALID: false,
  KEY_UNKNOWN_ID: false,
  KEY_MISMATCH: false,
  FORMAT_BAD_MAGIC: false,
  FORMAT_UNSUPPORTED_VERSION: false,
  FORMAT_BAD_HEADER: false,
  FORMAT_AUTH_FAILED: false,
  FORMAT_TRUNCATED: false,
  FORMAT_TRAILING_DATA: false,
  // S3
  S3_FORBIDDEN: false,
  S3_NO_SUCH_BUCKET: false,
  S3_NO_SUCH_KEY: false,
  S3_BAD_REQUEST: false,
  S3_UNAVAILABLE: true,
  S3_PART_SIZE: false,
  S3_INTEGRITY: false,
  S3_PRECONDITION_FAILED: false,
  // PostgreSQL tools
  PG_TOOLS_MISSING: false,
  PG_DUMP_TOO_OLD: false,
  PG_AUTH_FAILED: false,
  /** The database named in the URL does not exist on the server (a restore target must be created first). */
  PG_DATABASE_NOT_FOUND: false,
  PG_UNREACHABLE: true,
  PG_DUMP_FAILED: false,
  // the server dropped the connection mid-dump (a restart, a failover, an admin's terminate): the next attempt may well succeed
  PG_CONNECTION_LOST: true,
  // pg_dump gave up waiting for a table lock (lockWaitTimeoutSeconds): whatever held it may be gone next time
  PG_LOCK_TIMEOUT: true,
  PG_RESTORE_FAILED: false,
  PG_RESTORE_TOO_OLD: false,
  RESTORE_TARGET_NOT_EMPTY: false,
  // artifacts
  ARTIFACT_NOT_FOUND: false,
  MANIFEST_INVALID: false,
  ARTIFACT_CORRUPT: false,
  ARTIFACT_MISMATCH: false,
  CANCELLED: false,
  DUMP_INVALID: false,
  // restore drills: a failed drill never unseals anything, it only refuses to seal
  DRILL_FAILED: false,
  DRILL_RESTORE_ERRORS: false,
  DRILL_EXTENSION_MISSING: false,
  DRILL_ROW_MISMATCH: false,
  DRILL_TABLES_MISMATCH: false,
  DRILL_SEQUENCE_MISMATCH: false,
  DRILL_OBJECTS_MISMATCH: false,
  DRILL_CONTENT_MISMATCH: false,
  DRILL_SKIPPED: false,
  // a drill that could not run (never a verdict on the backup): the scratch server or local cluster, or the tools
  DRILL_TARGET_UNREACHABLE: true,
  DRILL_TARGET_AUTH_FAILED: false,
  DRILL_TOOLS_TOO_OLD: false,
  // the Worker: admin API and job control
  BAD_REQUEST: false,
  UNAUTHORIZED: false,
  AUTH_NOT_CONFIGURED: false,
  NOT_FOUND: false,
  DATABASE_NOT_FOUND: false,
  JOB_NOT_FOUND: false,
  JOB_ACTIVE: false,
  JOB_NOT_ACTIVE: false,
  CONTAINER_LOST: true,
  /** The streamer runs another job (one at a time); the Worker waits and sends it again. */
  STREAMER_BUSY: true,
  /** The streamer is shutting down; the job is sent again once it is back. */
  STREAMER_STOPPING: true,
  // a running job the DO ended itself: no progress for stallTimeoutMinutes, or longer than maxRunHours
  JOB_STALLED: false,
  JOB_TIMEOUT: false,
  INTERNAL: false,
} as const satisfies Record<string, boolean>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === "string" && Object.hasOwn(ERROR_CODES, s);
}

export class PgsealError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PgsealError";
    this.code = code;
    this.retryable = options?.retryable ?? ERROR_CODES[code];
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

export function isPgsealError(e: unknown, code?: ErrorCode): e is PgsealError {
  return e instanceof PgsealError && (code === undefined || e.code === code);
}

/** Wraps anything thrown into a PgsealError without losing one that already is. */
export function asPgsealError(e: unknown, fallback: ErrorCode, context: string): PgsealError {
  if (e instanceof PgsealError) return e;
  const detail = e instanceof Error ? e.message : String(e);
  return new PgsealError(fallback, `${context}: ${detail}`, { cause: e });
}
