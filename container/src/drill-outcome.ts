// The one builder of a drill's record, for both drill paths (read back from the bucket, or streamed as it was dumped): timing, judging pg_restore, comparing, the verdict.
import type { DrillRecord } from "../../src/shared/catalog/drill-record.ts";
import type { DrillSummary } from "../../src/shared/catalog/manifest.ts";
import { PgsealError, type ErrorCode } from "../../src/shared/errors.ts";
import type { PgConnection } from "../../src/shared/pg-url.ts";
import { compareInventory } from "./drill-compare.ts";
import type { PgTools } from "./pg-tools.ts";
import type { DumpInventory } from "./stages/dump-inventory.ts";
import type { RestoreError } from "./stages/pg-restore.ts";

/** How restores are run, recorded in every drill: roles and grants of the source do not exist in a throwaway cluster. */
export const DRILL_RESTORE_FLAGS = ["--no-owner", "--no-acl"] as const;
const MAX_WARNINGS = 200;

export interface DrillCheckOptions {
  /** Also run amcheck on the restored indexes; reported apart from the verdict. */
  amcheck?: boolean;
  /** Tests: alters the restored database before it is compared. */
  afterRestore?: (conn: PgConnection) => Promise<void>;
  /** Called when the comparison starts (progress). */
  onCounting?: () => void;
}

/** Judges pg_restore's ignored errors: which are expected in a throwaway cluster, which mean the drill fails. */
export function judgeRestoreErrors(errors: RestoreError[]): { fatal: { code: "DRILL_EXTENSION_MISSING" | "DRILL_RESTORE_ERRORS"; message: string } | null; tolerated: RestoreError[] } {
  const tolerated: RestoreError[] = [];
  for (const e of errors) {
    const ext = /^CREATE EXTENSION (?:IF NOT EXISTS )?("?[^\s";]+"?)/i.exec(e.command ?? "");
    if (ext && /not available|could not open extension control file|is not available/i.test(e.message)) {
      const name = ext[1].replace(/"/g, "");
      return {
        fatal: { code: "DRILL_EXTENSION_MISSING", message: `the drill image lacks the extension '${name}' the dump needs: add it to the image, or drill against a scratch server that has it` },
        tolerated,
      };
    }
    // Roles are cluster-wide, not in a database dump: a throwaway cluster never has the source's roles
    // (Neon's cloud_admin included). Ownership and grants are skipped with --no-owner/--no-acl; what is left is harmless.
    if (/role "[^"]*" does not exist/i.test(e.message) || /FOR ROLE cloud_admin/i.test(e.command ?? "")) {
      tolerated.push(e);
      continue;
    }
    return { fatal: { code: "DRILL_RESTORE_ERRORS", message: `pg_restore reported an error the drill cannot excuse: ${e.message.slice(0, 300)}` }, tolerated };
  }
  return { fatal: null, tolerated };
}

export interface DrillOutcome {
  /** Marks the start of the restore (its seconds are measured from here). */
  restoring(): void;
  /** The drill could not run (no room, no target, no tools): a new backup records it as drill-skipped with the reason. */
  skipped(reason: string, code?: ErrorCode): DrillRecord;
  /** The drill ran and failed for a reason of the artifact or the restore (never "could not run": that is thrown, not recorded). */
  failed(e: unknown, extra?: Partial<DrillRecord>): DrillRecord;
  /** After pg_restore ended: judges its errors, compares the restored database with the dump's inventory, and gives the verdict. */
  judge(args: { restored: { warnings: string[]; errors: RestoreError[] }; tools: PgTools; conn: PgConnection; inventory: DumpInventory | null } & DrillCheckOptions): Promise<DrillRecord>;
}

/** Starts the clock of one drill. */
export function drillOutcome(target: DrillSummary["target"]): DrillOutcome {
  const started = performance.now();
  let restoreStarted = started;
  const base = { at: new Date().toISOString(), target, restoreFlags: [...DRILL_RESTORE_FLAGS], restoreSeconds: 0, countSeconds: 0, tables: 0, rows: 0, warnings: [] as string[], comparison: null };
  const since = (t: number) => Math.round(performance.now() - t) / 1000;
  const failed = (e: unknown, extra: Partial<DrillRecord> = {}): DrillRecord => {
    const err = e instanceof PgsealError ? e : new PgsealError("DRILL_FAILED", `the drill broke: ${e instanceof Error ? e.message : String(e)}`);
    return { ...base, ...extra, verdict: "fail", code: err.code, reason: err.message, totalSeconds: since(started) };
  };
  return {
    restoring: () => void (restoreStarted = performance.now()),
    skipped: (reason, code = "DRILL_SKIPPED") => ({ ...base, verdict: "skipped", code, reason, totalSeconds: since(started) }),
    failed,
    async judge({ restored, tools, conn, inventory, amcheck, afterRestore, onCounting }) {
      const restoreSeconds = since(restoreStarted);
      const warnings = restored.warnings.slice(0, MAX_WARNINGS);
      const judged = judgeRestoreErrors(restored.errors);
      if (judged.fatal) return failed(new PgsealError(judged.fatal.code, judged.fatal.message), { restoreSeconds, warnings });
      if (!inventory) return failed(new PgsealError("DRILL_FAILED", "the dump's inventory could not be read, so there is nothing to compare the restore with"), { restoreSeconds, warnings });
      onCounting?.();
      const countStarted = performance.now();
      await afterRestore?.(conn);
      const comparison = await compareInventory(tools, conn, inventory, { amcheck });
      const counted = { restoreSeconds, countSeconds: since(countStarted), tables: comparison.tables.length, rows: comparison.rowsActual, warnings, comparison };
      if (comparison.failure) return failed(new PgsealError(comparison.failure.code, comparison.failure.summary), counted);
      return { ...base, ...counted, verdict: "pass", totalSeconds: since(started) };
    },
  };
}
