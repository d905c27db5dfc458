// The shape of a drill's result, shared by the streamer that produces it, the Worker that stores it and the CLI that prints it.
import type { ErrorCode } from "./errors.ts";
import type { DrillSummary } from "./manifest.ts";

export interface TableCount {
  table: string;
  expected: number;
  /** null: the table is missing after the restore. */
  actual: number | null;
}

export interface DrillComparison {
  tables: TableCount[];
  rowsExpected: number;
  rowsActual: number;
  /** Tables in the restored database that the dump had no data for. */
  unexpectedTables: string[];
  sequences: { sequence: string; expected: string; actual: string | null }[];
  largeObjects: { expected: number; actual: number };
  objects: { kind: string; expected: number; actual: number }[];
  /** The first kind of difference found, if any; `summary` names no table (it goes into the plaintext manifest). */
  failure: { code: ErrorCode; summary: string } | null;
}

/** The full record: the manifest's plaintext summary plus what goes into its sealed section. */
export interface DrillRecord extends DrillSummary {
  warnings: string[];
  comparison: DrillComparison | null;
}

/** The record without its schema-bearing parts: what plaintext places (manifest, job summaries) may hold. */
export function drillSummary(d: DrillRecord | undefined | null): DrillSummary | null {
  if (!d) return null;
  const { warnings: _w, comparison: _c, ...summary } = d;
  return summary;
}
