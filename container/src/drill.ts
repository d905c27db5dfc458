// Wires the restore drill: bucket → sha256 → decrypt → decompress → pg_restore into a throwaway target → count and compare.
import type { DrillRecord } from "../../src/shared/catalog/drill-record.ts";
import { PgsealError, type ErrorCode } from "../../src/shared/errors.ts";
export type { DrillRecord };
import type { Keyring } from "../../src/shared/format/keyring.ts";
import type { DecryptKeys } from "../../src/shared/format/format.ts";
import type { Manifest } from "../../src/shared/catalog/manifest.ts";
import type { PgConnection } from "../../src/shared/pg-url.ts";
import type { S3Client } from "../../src/shared/s3/s3.ts";
import { createScratchDatabase, freeDiskBytes, startDrillCluster, type DrillTarget } from "./drill-cluster.ts";
import { drillOutcome } from "./drill-outcome.ts";
export { DRILL_RESTORE_FLAGS, judgeRestoreErrors } from "./drill-outcome.ts";
import { findPgTools } from "./pg-tools.ts";
import { openDump, whileDumpOpens, type Chain, type ReadProgress } from "./restore.ts";
import { runPipeline } from "../../src/shared/pipeline/pipeline.ts";
import type { DumpInventory } from "./stages/dump-inventory.ts";
import { pgRestoreSink } from "./stages/pg-restore.ts";

/** Restored size relative to the source is about 1 (same data, rebuilt indexes); WAL and slack on top. */
const DISK_FACTOR = 1.3;
const DISK_SLACK_BYTES = 256 * 1024 * 1024;

export interface DrillSpec {
  client: S3Client;
  manifest: Manifest;
  keyring: Keyring | DecryptKeys;
  /** What the dump held, recorded while it streamed out of pg_dump. */
  expected: DumpInventory;
  /** A server to restore into (a fresh database is created and dropped) instead of a local throwaway cluster. */
  scratchUrl?: string;
  signal?: AbortSignal;
  onProgress?: (p: DrillProgress) => void;
  onNotice?: (message: string) => void;
  /** Tests: the free bytes the disk guard sees. */
  freeBytes?: () => number;
  /** Also run amcheck on the restored indexes (slow: reads every table once per index); reported apart from the verdict. */
  amcheck?: boolean;
  /** Tests: runs against the restored database before it is compared (to alter it). */
  afterRestore?: (conn: PgConnection) => Promise<void>;
}

export interface DrillProgress {
  step: "preparing" | "restoring" | "counting";
  bytesRead: number;
  bytesTotal: number;
}

/** The disk guard: null when a local drill fits, else the reason it does not (sizes in GiB, and what to do instead). */
export function localDrillNeeds(sourceBytes: number, freeBytes: number): string | null {
  const need = Math.ceil(sourceBytes * DISK_FACTOR) + DISK_SLACK_BYTES;
  if (freeBytes >= need) return null;
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
  return `not enough disk for a local drill: the source database is ${gib(sourceBytes)}, ~${gib(need)} needed, ${gib(freeBytes)} free; the backup is stored but not sealed (use a larger instance type or a drill scratch server)`;
}

/** Codes of a drill that could not run: they say nothing about the backup, so no verdict is recorded from them. */
export const DRILL_NOT_RUN_CODES: readonly ErrorCode[] = [
  "DRILL_SKIPPED",
  "DRILL_TARGET_UNREACHABLE",
  "DRILL_TARGET_AUTH_FAILED",
  "DRILL_TOOLS_TOO_OLD",
  "PG_TOOLS_MISSING",
  "KEY_INVALID",
  "KEY_UNKNOWN_ID",
  "KEY_MISMATCH",
];

export function isDrillNotRun(e: unknown): e is PgsealError {
  return e instanceof PgsealError && DRILL_NOT_RUN_CODES.includes(e.code);
}

function targetUnavailable(e: unknown, what: string): PgsealError {
  const code = e instanceof PgsealError && (e.code === "PG_AUTH_FAILED" || e.code === "DRILL_TARGET_AUTH_FAILED") ? "DRILL_TARGET_AUTH_FAILED" : "DRILL_TARGET_UNREACHABLE";
  const detail = e instanceof Error ? e.message : String(e);
  return new PgsealError(code, `the drill could not run: ${what} is not usable (${detail.split("\n")[0]}); the backup's status is unchanged`);
}

/** pg_restore reads archives of its own major and older only: the drill needs tools at least as new as the archive's pg_dump. */
async function drillTools(needServer: boolean, pgDumpVersion: string): Promise<Awaited<ReturnType<typeof findPgTools>>> {
  const minMajor = Number.parseInt(pgDumpVersion, 10);
  if (!Number.isFinite(minMajor)) return findPgTools({ needServer });
  try {
    return await findPgTools({ needServer, minMajor });
  } catch (e) {
    if (!(e instanceof PgsealError && e.code === "PG_TOOLS_MISSING")) throw e;
    // Only to name the older version in the message: with no tools at all, the original error stands.
    const older = await findPgTools({ needServer }).catch(() => null);
    if (!older) throw e;
    throw new PgsealError(
      "DRILL_TOOLS_TOO_OLD",
      `the drill could not run: the archive was written by pg_dump ${pgDumpVersion}, the newest PostgreSQL tools here are ${older.version}; install PostgreSQL ${minMajor} or newer (or point PGSEAL_PG_BIN at it). The backup's status is unchanged`,
    );
  }
}

/**
 * Starts the target (initdb and start: about a second) while the artifact is opened (key check,
 * GET), through whileDumpOpens: a started target is handed to `started` (the caller disposes it),
 * and a target that could not start wins over an artifact that could not be opened.
 */
async function targetAndDump(
  spec: DrillSpec,
  tools: Awaited<ReturnType<typeof findPgTools>>,
  progress: DrillProgress,
  started: (t: DrillTarget) => void,
): Promise<{ chain: Chain; conn: PgConnection }> {
  const starting = (spec.scratchUrl ? createScratchDatabase(tools, spec.scratchUrl) : startDrillCluster(tools, spec.onNotice)).then(
    (t) => (started(t), t),
    (e: unknown) => {
      throw targetUnavailable(e, spec.scratchUrl ? "the drill scratch server" : "the local drill cluster");
    },
  );
  const opening = openDump(spec.client, spec.manifest, spec.keyring, (p: ReadProgress) => {
    progress.bytesRead = p.bytesRead;
    spec.onProgress?.(progress);
  });
  const { checked: target, chain } = await whileDumpOpens(starting, opening);
  return { chain, conn: target.conn };
}

export async function runDrill(spec: DrillSpec): Promise<DrillRecord> {
  const outcome = drillOutcome(spec.scratchUrl ? "scratch-database" : "local-cluster");
  const progress: DrillProgress = { step: "preparing", bytesRead: 0, bytesTotal: spec.manifest.artifact.bytes };
  spec.onProgress?.(progress);

  if (!spec.scratchUrl) {
    const skip = localDrillNeeds(spec.manifest.source.sizeBytes, (spec.freeBytes ?? freeDiskBytes)());
    if (skip) throw new PgsealError("DRILL_SKIPPED", skip);
  }

  const tools = await drillTools(!spec.scratchUrl, spec.manifest.dump.pgDumpVersion);
  let target: DrillTarget | undefined;
  try {
    const { chain, conn } = await targetAndDump(spec, tools, progress, (t) => (target = t));
    if (spec.signal?.aborted) {
      await chain.source.readable.cancel().catch(() => undefined); // the drill ends here; the body's own state no longer matters
      throw new PgsealError("CANCELLED", "the drill was cancelled");
    }
    progress.step = "restoring";
    outcome.restoring();
    const sink = pgRestoreSink(tools, conn, { noOwner: true, noAcl: true, keepGoing: true });
    const cancelled = () => new PgsealError("CANCELLED", "the drill was cancelled");
    await runPipeline({ ...chain, sink: { name: "pg_restore", writable: sink.writable, done: sink.done, stop: sink.stop }, signal: spec.signal, cancelReason: cancelled });
    return await outcome.judge({
      restored: await sink.done,
      tools,
      conn,
      inventory: spec.expected,
      amcheck: spec.amcheck,
      afterRestore: spec.afterRestore,
      onCounting: () => ((progress.step = "counting"), spec.onProgress?.(progress)),
    });
  } catch (e) {
    // Cancelled, or the drill could not run: no verdict on the backup either way.
    if (e instanceof PgsealError && (e.code === "CANCELLED" || isDrillNotRun(e))) throw e;
    // An artifact that fails its checksum or decryption is the worst drill result, not a crash.
    return outcome.failed(e);
  } finally {
    // A throwaway target that cannot be removed must not turn a verdict into an error; its directory is under TMPDIR.
    await target?.dispose().catch(() => undefined);
  }
}
