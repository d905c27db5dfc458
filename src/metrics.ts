// GET /metrics: pgseal's figures per database in the OpenMetrics text format (families, units, escaping, # EOF).
import { ACTIVE_JOB_STATES } from "./shared/contract/job-states.ts";

export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/** The states of the active-job state set: idle means no job runs. */
export const PHASES = ["idle", ...ACTIVE_JOB_STATES] as const;

export interface DatabaseMetrics {
  db: string;
  lastSealed: null | {
    finishedAtMs: number;
    durationSeconds: number | null;
    dumpBytes: number | null;
    storedBytes: number | null;
    restoreSeconds: number | null;
    tables: number | null;
    rows: number | null;
  };
  lastBackup: null | { finishedAtMs: number; durationSeconds: number | null; dumpBytes: number | null; storedBytes: number | null; state: string };
  /** Ended jobs by end state over the database's history. */
  jobsByState: Record<string, number>;
  drillFailures: number;
  activePhase: string | null;
}

export interface MetricsInput {
  now: number;
  databases: DatabaseMetrics[];
}

type Labels = Record<string, string>;
interface Family {
  name: string;
  type: "gauge" | "counter" | "stateset";
  unit?: "seconds" | "bytes";
  help: string;
  samples: { suffix?: string; labels: Labels; value: number }[];
}

/** Label values: backslash, double quote and newline escaped, as the format requires. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

const num = (v: number) => (Number.isInteger(v) ? String(v) : String(Number(v.toFixed(6))));
const labelText = (l: Labels) =>
  Object.keys(l).length === 0
    ? ""
    : `{${Object.entries(l)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(",")}}`;

function render(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# TYPE ${f.name} ${f.type}`);
    if (f.unit) lines.push(`# UNIT ${f.name} ${f.unit}`);
    lines.push(`# HELP ${f.name} ${f.help}`);
    for (const s of f.samples) lines.push(`${f.name}${s.suffix ?? ""}${labelText(s.labels)} ${num(s.value)}`);
  }
  lines.push("# EOF");
  return lines.join("\n") + "\n";
}

/**
 * One family per figure, samples per database. A figure that is not known (no sealed backup yet, no
 * manifest) is left out, not written as 0: a 0 would read as a real, alarming value.
 */
export function renderMetrics(input: MetricsInput): string {
  const dbs = input.databases;
  const gauge = (name: string, help: string, unit: Family["unit"], pick: (d: DatabaseMetrics) => number | null | undefined): Family => ({
    name,
    type: "gauge",
    unit,
    help,
    samples: dbs.flatMap((d) => {
      const v = pick(d);
      return v === null || v === undefined ? [] : [{ labels: { db: d.db }, value: v }];
    }),
  });
  const states = [...new Set(dbs.flatMap((d) => Object.keys(d.jobsByState)))].sort();
  return render([
    { name: "pgseal_databases", type: "gauge", help: "Databases configured in PGSEAL_CONFIG.", samples: [{ labels: {}, value: dbs.length }] },
    gauge(
      "pgseal_last_sealed_backup_timestamp_seconds",
      "When the newest sealed (restore-drilled) backup finished, as a Unix time.",
      "seconds",
      (d) => d.lastSealed && d.lastSealed.finishedAtMs / 1000,
    ),
    gauge("pgseal_last_sealed_backup_age_seconds", "Age of the newest sealed backup.", "seconds", (d) => d.lastSealed && Math.max(0, (input.now - d.lastSealed.finishedAtMs) / 1000)),
    gauge("pgseal_last_backup_duration_seconds", "Duration of the newest finished backup, dump to manifest.", "seconds", (d) => d.lastBackup?.durationSeconds),
    gauge("pgseal_last_backup_dump_bytes", "Size of the newest finished backup's pg_dump archive.", "bytes", (d) => d.lastBackup?.dumpBytes),
    gauge("pgseal_last_backup_stored_bytes", "Size of the newest finished backup's encrypted artifact in the bucket.", "bytes", (d) => d.lastBackup?.storedBytes),
    gauge("pgseal_last_restore_seconds", "Restore time of the newest sealed backup's drill.", "seconds", (d) => d.lastSealed?.restoreSeconds),
    gauge("pgseal_last_drill_tables", "Tables compared by the newest sealed backup's drill.", undefined, (d) => d.lastSealed?.tables),
    gauge("pgseal_last_drill_rows", "Rows verified by the newest sealed backup's drill.", undefined, (d) => d.lastSealed?.rows),
    {
      name: "pgseal_jobs",
      type: "counter",
      help: "Backup jobs ended, by end state.",
      samples: dbs.flatMap((d) => states.map((state) => ({ suffix: "_total", labels: { db: d.db, state }, value: d.jobsByState[state] ?? 0 }))),
    },
    { name: "pgseal_drill_failures", type: "counter", help: "Backups whose restore drill failed.", samples: dbs.map((d) => ({ suffix: "_total", labels: { db: d.db }, value: d.drillFailures })) },
    {
      name: "pgseal_active_job_phase",
      type: "stateset",
      help: "The phase of the database's running job (idle when none runs).",
      samples: dbs.flatMap((d) => PHASES.map((p) => ({ labels: { db: d.db, pgseal_active_job_phase: p }, value: (d.activePhase ?? "idle") === p ? 1 : 0 }))),
    },
  ]);
}
