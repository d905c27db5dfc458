// UTC calendar months as the report names them: "YYYY-MM" in, instants and labels out.
import { PgsealError } from "../shared/errors.ts";

/** Before the epoch there were no backups to report, and Date.UTC maps years 0–99 onto 1900–1999. */
const MIN_REPORT_YEAR = 1970;
const MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"] as const;

const MONTH_RE = /^(\d{4})-(0[1-9]|1[0-2])$/;

function parseMonth(month: string): { year: number; monthIndex: number } {
  const m = typeof month === "string" ? MONTH_RE.exec(month) : null;
  if (!m || Number(m[1]) < MIN_REPORT_YEAR) {
    throw new PgsealError("BAD_REQUEST", `month must be YYYY-MM (UTC calendar month, year ≥ ${MIN_REPORT_YEAR}), got ${JSON.stringify(String(month)).slice(0, 40)}`);
  }
  return { year: Number(m[1]), monthIndex: Number(m[2]) - 1 };
}

/** A UTC calendar month as ISO instants, `end` exclusive (the first instant of the next month). */
export function monthRange(month: string): { start: string; end: string } {
  const { year, monthIndex } = parseMonth(month);
  // Date.UTC rolls month 12 over into January of the next year, and knows leap years.
  return {
    start: new Date(Date.UTC(year, monthIndex, 1)).toISOString(),
    end: new Date(Date.UTC(year, monthIndex + 1, 1)).toISOString(),
  };
}

export function monthLabel(month: string): string {
  const { year, monthIndex } = parseMonth(month);
  return `${MONTH_NAMES[monthIndex]} ${year}`;
}
