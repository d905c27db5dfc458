// The shape of a drill's result, shared by the streamer that produces it, the Worker that stores it and the CLI that prints it.
import type { ErrorCode } from "../errors.ts";
import type { ContentProof, DrillSummary } from "./manifest.ts";
import { formatBytes } from "../format-bytes.ts";

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
  /** The content comparison; null when it did not run (counts already differed), absent in older records. */
  content?: ContentCheck | null;
  /** amcheck of the restored B-tree indexes, when asked for: reported apart, it does not change the verdict. */
  amcheck?: AmcheckReport;
  /** The first kind of difference found, if any; `summary` names no table (it goes into the plaintext manifest). */
  failure: { code: ErrorCode; summary: string } | null;
}

/** What comparing the restore's content with the dump's digests found (container/src/drill-digest.ts). */
export interface ContentCheck {
  proof: "content-exact" | "counts-only";
  /** Why counts only; names no table (it reaches plaintext summaries). */
  reason?: string;
  /** The digest definition compared (CONTENT_DIGEST). */
  digest?: string;
  /** Tables whose COPY text was hashed and compared. */
  tables: number;
  /** Bytes hashed on the restore side: COPY text plus large object data. */
  bytes: number;
  seconds: number;
  /** Tables whose content differs from the dump's, with both digests. */
  mismatched: { table: string; expected: string; actual: string }[];
  largeObjects: { count: number; bytes: number; match: boolean } | null;
}

/** bt_index_check(index, heapallindexed => true) over the restored indexes (container/src/drill-amcheck.ts). */
export interface AmcheckReport {
  /** False when amcheck was unavailable (`reason` says why). */
  ran: boolean;
  reason?: string;
  indexes: number;
  /** Indexes amcheck found corrupt, with its message. */
  failed: { index: string; error: string }[];
  seconds: number;
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
  const proof = contentProof(d.comparison);
  return proof ? { ...summary, content: proof } : summary;
}

/** The plaintext line of what a drill proved about content: numbers and a reason, never a table name. */
export function contentProof(c: DrillComparison | null | undefined): ContentProof | null {
  if (!c?.content) return null;
  const { proof, tables, bytes, reason } = c.content;
  return { proof, tables, bytes, ...(reason ? { reason } : {}) };
}

/** "content-exact: 12 tables, 1.4 GB hashed" or "counts only (why)": the words the dashboard and report use. */
export function describeProof(p: ContentProof | null | undefined): string {
  if (!p) return "counts only (no content comparison was recorded)";
  if (p.proof === "content-exact") return `content-exact: ${p.tables} tables, ${formatBytes(p.bytes)} hashed`;
  return `counts only${p.reason ? ` (${p.reason})` : ""}`;
}
