// The drill for backups the deployment cannot decrypt (public-key mode): restore the plaintext as it is produced, then check the stored bytes.
import type { DrillRecord } from "../../src/shared/catalog/drill-record.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import type { Manifest } from "../../src/shared/catalog/manifest.ts";
import type { S3Client } from "../../src/shared/s3/s3.ts";
import { drillOutcome } from "./drill-outcome.ts";
import { createScratchDatabase, freeDiskBytes, startDrillCluster, type DrillTarget } from "./drill-cluster.ts";
import { localDrillNeeds } from "./drill.ts";
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
  const outcome = drillOutcome(opts.scratchUrl ? "scratch-database" : "local-cluster");
  if (!opts.scratchUrl) {
    const skip = localDrillNeeds(opts.sourceBytes, (opts.freeBytes ?? freeDiskBytes)());
    if (skip) return { writable: null, finish: async () => outcome.skipped(skip), abort: async () => undefined };
  }
  const tools = await findPgTools({ needServer: !opts.scratchUrl });
  const target: DrillTarget = opts.scratchUrl ? await createScratchDatabase(tools, opts.scratchUrl) : await startDrillCluster(tools, opts.onNotice);
  const sink: PgRestoreSink = pgRestoreSink(tools, target.conn, { noOwner: true, noAcl: true, keepGoing: true });
  outcome.restoring();
  return {
    writable: sink.writable,
    // The backup aborts the writable itself (it holds its writer); this waits for pg_restore and cleans up.
    abort: async () => {
      await sink.done.catch(() => undefined); // the backup's own error is what is reported; pg_restore only has to be gone
      await target.dispose();
    },
    async finish({ client, manifest, inventory }) {
      try {
        let restored: Awaited<PgRestoreSink["done"]>;
        try {
          restored = await sink.done;
        } catch (e) {
          return outcome.failed(e);
        }
        const record = await outcome.judge({ restored, tools, conn: target.conn, inventory });
        if (record.verdict !== "pass") return record;
        // What the bucket holds must be what was encrypted: read it back without the key.
        try {
          await checkStoredArtifact(client, manifest);
          return record;
        } catch (e) {
          const err = e instanceof PgsealError ? e : new PgsealError("S3_INTEGRITY", String(e));
          return outcome.failed(new PgsealError(err.code, `the restore matched, but the stored object failed its check: ${err.message}`), { ...record });
        }
      } finally {
        await target.dispose();
      }
    },
  };
}
