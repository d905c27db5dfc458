// Five-field cron expressions in UTC: parsing and the next matching minute, with Vixie cron's day semantics.
import { PgsealError } from "../shared/errors.ts";

export interface CronSchedule {
  /** The expression as written (macros expanded in `fields`). */
  source: string;
  fields: string;
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  daysOfMonth: ReadonlySet<number>;
  months: ReadonlySet<number>;
  /** 0 = Sunday; 7 is folded into 0. */
  daysOfWeek: ReadonlySet<number>;
  /**
   * Vixie cron: when both day fields are restricted (neither starts with `*`), a day matches if
   * EITHER matches ("the 1st and every Monday"); otherwise both must.
   */
  dayOr: boolean;
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** Names index from this value (months start at 1). */
  nameBase?: number;
}

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], nameBase: 1 },
  { name: "day-of-week", min: 0, max: 7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], nameBase: 0 },
];

const MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const MINUTE_MS = 60_000;
// Feb 29 restricted to one weekday (AND semantics, e.g. "0 0 29 2 */7") recurs only every 28 years.
const MAX_SEARCH_YEARS = 29;

function invalid(expr: string, detail: string): PgsealError {
  return new PgsealError("CONFIG_INVALID", `cron expression '${expr}': ${detail}`);
}

function parseValue(expr: string, spec: FieldSpec, text: string): number {
  const lower = text.toLowerCase();
  const byName = spec.names?.indexOf(lower) ?? -1;
  if (byName >= 0) return byName + (spec.nameBase ?? 0);
  if (!/^\d+$/.test(text)) throw invalid(expr, `${spec.name} field has '${text}', expected a number${spec.names ? " or a name like " + spec.names[0] : ""}`);
  const n = Number(text);
  if (n < spec.min || n > spec.max) throw invalid(expr, `${spec.name} ${n} is outside ${spec.min}-${spec.max}`);
  return n;
}

function parseField(expr: string, spec: FieldSpec, text: string): Set<number> {
  const out = new Set<number>();
  if (text === "") throw invalid(expr, `${spec.name} field is empty`);
  for (const part of text.split(",")) {
    const [range, stepText, extra] = part.split("/");
    if (extra !== undefined || range === "") throw invalid(expr, `${spec.name} field has a malformed part '${part}'`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) throw invalid(expr, `${spec.name} step '${stepText}' must be a whole number >= 1`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === "*") {
      lo = spec.min;
      hi = spec.max;
    } else if (range.includes("-")) {
      const [a, b, more] = range.split("-");
      if (more !== undefined || a === "" || b === "") throw invalid(expr, `${spec.name} field has a malformed range '${range}'`);
      lo = parseValue(expr, spec, a);
      hi = parseValue(expr, spec, b);
      if (hi < lo) throw invalid(expr, `${spec.name} range '${range}' runs backwards`);
    } else {
      lo = parseValue(expr, spec, range);
      // "5/15" means "from 5, every 15" (as cronie reads it); a bare value is just itself.
      hi = stepText === undefined ? lo : spec.max;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

export function parseCron(expr: string): CronSchedule {
  const trimmed = expr.trim();
  const fields = MACROS[trimmed.toLowerCase()] ?? trimmed;
  if (fields.startsWith("@")) throw invalid(expr, `unknown macro; use one of ${Object.keys(MACROS).join(", ")}`);
  const parts = fields.split(/\s+/);
  if (parts.length !== 5) throw invalid(expr, `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  const sets = parts.map((p, i) => parseField(expr, FIELDS[i], p));
  const dow = new Set([...sets[4]].map((d) => (d === 7 ? 0 : d)));
  return {
    source: expr,
    fields,
    minutes: sets[0],
    hours: sets[1],
    daysOfMonth: sets[2],
    months: sets[3],
    daysOfWeek: dow,
    dayOr: !parts[2].startsWith("*") && !parts[4].startsWith("*"),
  };
}

function dayMatches(s: CronSchedule, d: Date): boolean {
  const dom = s.daysOfMonth.has(d.getUTCDate());
  const dow = s.daysOfWeek.has(d.getUTCDay());
  return s.dayOr ? dom || dow : dom && dow;
}

/** The first minute strictly after `after` (UTC) that the schedule matches; throws if it never matches. */
export function nextRun(schedule: CronSchedule | string, after: Date): Date {
  const s = typeof schedule === "string" ? parseCron(schedule) : schedule;
  let t = Math.floor(after.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const limitYear = new Date(t).getUTCFullYear() + MAX_SEARCH_YEARS;
  for (;;) {
    const d = new Date(t);
    const y = d.getUTCFullYear();
    const mo = d.getUTCMonth();
    if (y > limitYear) throw invalid(s.source, `it never matches (no such date within ${MAX_SEARCH_YEARS} years, e.g. February 30)`);
    if (!s.months.has(mo + 1)) {
      t = Date.UTC(y, mo + 1, 1);
    } else if (!dayMatches(s, d)) {
      t = Date.UTC(y, mo, d.getUTCDate() + 1);
    } else if (!s.hours.has(d.getUTCHours())) {
      t = Date.UTC(y, mo, d.getUTCDate(), d.getUTCHours() + 1);
    } else if (!s.minutes.has(d.getUTCMinutes())) {
      t += MINUTE_MS;
    } else {
      return d;
    }
  }
}
