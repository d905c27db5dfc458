// Job records (DatabaseBackups' SQLite rows) → the report's input rows; the only place that knows both shapes.
import type { JobRecord } from "../do/job-store.ts";
import { contentProof, describeProof } from "../shared/catalog/drill-record.ts";
import type { ReportJob, ReportJobState } from "./report.ts";

const LARGEST_TABLES = 5;
const REPORTED: readonly string[] = ["sealed", "drill-failed", "drill-skipped", "failed", "cancelled", "uploaded"];

export function toReportJob(job: JobRecord): ReportJob {
  const drill = job.result?.drill;
  const manifest = job.result?.manifest;
  const largest = [...(drill?.comparison?.tables ?? [])].sort((a, b) => b.expected - a.expected).slice(0, LARGEST_TABLES);
  return {
    id: job.id,
    db: job.db,
    // Callers pass finished jobs only: the report is about what ended.
    state: job.state as ReportJobState,
    createdAt: new Date(job.createdAt).toISOString(),
    finishedAt: REPORTED.includes(job.state) ? new Date(job.updatedAt).toISOString() : null,
    dumpBytes: manifest?.dump.bytes ?? null,
    storedBytes: manifest?.artifact.bytes ?? null,
    drill: drill
      ? {
          restoreSeconds: drill.restoreSeconds,
          countSeconds: drill.countSeconds,
          totalSeconds: drill.totalSeconds,
          tables: drill.tables,
          rows: drill.rows,
          verdict: drill.verdict,
          ...(drill.reason ? { reason: drill.reason } : {}),
          proof: describeProof(contentProof(drill.comparison)),
          largestTables: largest.map((t) => ({ name: t.table, rows: t.expected })),
        }
      : null,
    error: job.error ? { code: job.error.code, message: job.error.message } : null,
    ...(job.result?.copies ? { copies: job.result.copies.map((c) => ({ name: c.name, ok: c.ok })) } : {}),
  };
}
