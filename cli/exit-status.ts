// The CLI's exit statuses, one place: 0 ok, 1 a failure with a code, 2 usage, 70 unexpected, 141 the reader closed stdout.
import type { ErrorCode } from "../src/shared/errors.ts";

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
/** An error without a pgseal code (a bug): EX_SOFTWARE from sysexits.h. */
export const EXIT_INTERNAL = 70;
/** 128 + SIGPIPE: what a shell reports for a tool whose reader closed the pipe (`… | head`). */
export const EXIT_OUTPUT_CLOSED = 141;

export function exitStatusOf(code: ErrorCode): number {
  if (code === "USAGE") return EXIT_USAGE;
  if (code === "OUTPUT_CLOSED") return EXIT_OUTPUT_CLOSED;
  if (code === "INTERNAL") return EXIT_INTERNAL;
  return EXIT_ERROR;
}
