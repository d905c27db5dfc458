// The drill for backups the deployment cannot decrypt (public-key mode): restore the plaintext as it is produced, then check the stored bytes.
import type { DrillRecord } from "../../src/shared/drill-record.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import type { Manifest } from "../../src/shared/manifest.ts";
import type { S3Client } from "../../src/shared/s3.ts";
import { compareInventory } from "./drill-compare.ts";
import { createScratchDatabase, freeDiskBytes, startDrillCluster, type DrillTarget } from "./drill-cluster.ts";
import { DRILL_RESTORE_FLAGS, judgeRestoreErrors, localDrillNeeds } from "./drill.ts";
import { checkStoredArtifact } from "./restore.ts";
import { findPgTools } from "./pg-tools.ts";
import type { DumpInventory } from "./stages/dump-inventory.ts";
import { pgRestoreSink, type PgRestoreSink } from "./stages/pg-restore.ts";

export interface StreamingDrill {
  /** Receives a copy of the dump as pg_dump writes it; null when the drill was skipped up front. */
  writable: WritableStream<Uint8Array> | null;
  /** After the backup: the restore's verdict, plus the stored object read back and checked by size and sha256. */
  finish(args: { client: S3Client; manifest: Manifest; inventory: DumpInventory | null }): Promise<DrillRecord>;
  /** The backup failed (and aborted the writable): wait for pg_restore to end and remove the target. */
  abort(): Promise<void>;
}

/**
 * Opened once the source's size is known (the disk guard needs it). The restore runs concurrently
 * with the upload; the slower of the two sets the pace of the whole pipeline.
 */
export async function openStreamingDrill(opts: { sourceBytes: number; scratchUrl?: string; freeBytes?: () => number; onNotice?: (m: string) => void }): Promise<StreamingDrill> {
  const at = new Date().toISOString();
  const started = performance.now();
  const kind: DrillRecord["target"] = opts.scratchUrl ? "scratch-database" : "local-cluster";
  const base = { at, target: kind, restoreFlags: [...DRILL_RESTORE_FLAGS], restoreSeconds: 0, countSeconds: 0, tables: 0, rows: 0, warnings: [] as string[], comparison: null };
  const seconds = () => Math.round(performance.now() - started) / 1000;
  if (!opts.scratchUrl) {
    const skip = localDrillNeeds(opts.sourceBytes, (opts.freeBytes ?? freeDiskBytes)());
    if (skip) {
      return { writable: null, finish: async () => ({ ...base, verdict: "skipped", code: "DRILL_SKIPPED", reason: skip, totalSeconds: seconds() }), abort: async () => {} };
    }
  }
  const tools = await findPgTools({ needServer: !opts.scratchUrl });
  const target: DrillTarget = opts.scratchUrl ? await createScratchDatabase(tools, opts.scratchUrl) : await startDrillCluster(tools, opts.onNotice);
  const sink: PgRestoreSink = pgRestoreSink(tools, target.conn, { noOwner: true, noAcl: true, keepGoing: true });
  const restoreStarted = performance.now();
  return {
    writable: sink.writable,
    // The backup aborts the writable itself (it holds its writer); this waits for pg_restore and cleans up.
    abort: async () => {
      await sink.done.catch(() => {});
      await target.dispose();
    },
    async finish({ client, manifest, inventory }) {
      try {
        const restored = await sink.done.catch((e: unknown) => e);
        if (!("warnings" in (restored as object))) {
          const err = restored instanceof PgsealError ? restored : new PgsealError("DRILL_FAILED", String(restored));
          return { ...base, verdict: "fail", code: err.code, reason: err.message, totalSeconds: seconds() };
        }
        const { warnings, errors } = restored as Awaited<PgRestoreSink["done"]>;
        const restoreSeconds = Math.round(performance.now() - restoreStarted) / 1000;
        const judged = judgeRestoreErrors(errors);
        if (judged.fatal) return { ...base, verdict: "fail", code: judged.fatal.code, reason: judged.fatal.message, restoreSeconds, totalSeconds: seconds(), warnings };
        if (!inventory) return { ...base, verdict: "fail", code: "DRILL_FAILED", reason: "the dump's inventory could not be read, so there is nothing to compare the restore with", restoreSeconds, totalSeconds: seconds(), warnings };
        const countStarted = performance.now();
        const comparison = await compareInventory(tools, target.conn, inventory);
        const countSeconds = Math.round(performance.now() - countStarted) / 1000;
        const counted = { restoreSeconds, countSeconds, tables: comparison.tables.length, rows: comparison.rowsActual, warnings, comparison };
        if (comparison.failure) return { ...base, ...counted, verdict: "fail", code: comparison.failure.code, reason: comparison.failure.summary, totalSeconds: seconds() };
        // What the bucket holds must be what was encrypted: read it back without the key.
        try {
          await checkStoredArtifact(client, manifest);
        } catch (e) {
          const err = e instanceof PgsealError ? e : new PgsealError("S3_INTEGRITY", String(e));
          return { ...base, ...counted, verdict: "fail", code: err.code, reason: `the restore matched, but the stored object failed its check: ${err.message}`, totalSeconds: seconds() };
        }
        return { ...base, ...counted, verdict: "pass", totalSeconds: seconds() };
      } finally {
        await target.dispose();
      }
    },
  };
}
