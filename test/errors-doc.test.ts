// docs/ERRORS.md is the catalog: every code, and only those, with its real retryability, HTTP status and exit status.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { exitStatusOf } from "../cli/exit-status.ts";
import { httpStatusOf } from "../src/api/http-status.ts";
import { ERROR_CODES, type ErrorCode } from "../src/shared/errors.ts";

const rows = readFileSync(new URL("../docs/ERRORS.md", import.meta.url), "utf8")
  .split("\n")
  .map((l) => /^\| `([A-Z0-9_]+)` \| (.+) \| (yes|no) \| (\d{3}) \| (\d+) \|$/.exec(l))
  .filter((m): m is RegExpExecArray => m !== null)
  .map((m) => ({ code: m[1], meaning: m[2], retryable: m[3] === "yes", http: Number(m[4]), exit: Number(m[5]) }));

describe("docs/ERRORS.md", () => {
  it("lists every code of the catalog exactly once and no other", () => {
    expect(rows.map((r) => r.code).sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it.each(rows)("gives $code the retryability, HTTP status and exit status the code really has", (r) => {
    const code = r.code as ErrorCode;
    expect({ retryable: r.retryable, http: r.http, exit: r.exit }).toEqual({ retryable: ERROR_CODES[code], http: httpStatusOf(code), exit: exitStatusOf(code) });
    expect(r.meaning.length).toBeGreaterThan(10);
  });
});
