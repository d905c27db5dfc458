// One streamer job: the backup, then its drill (read back from the bucket, or streamed as it is dumped in key custody mode), then the verdict in every manifest.
import type { CopyOutcome } from "../../src/shared/pipeline/fanout.ts";
import { S3Client } from "../../src/shared/s3/s3.ts";
import { runBackup, type BackupProgress, type BackupSpec } from "./backup.ts";
import type { JobResult } from "./jobs.ts";
import type { DrillMode } from "./job-request.ts";
import { nodeHashing } from "./node-hash.ts";
import { recordVerdict, sealBackup } from "./seal.ts";
import { openStreamingDrill, type StreamingDrill } from "./stream-drill.ts";
import { abortLeftoverUploads } from "./leftovers.ts";
import { cancelledAfterUpload, withdrawBackup } from "./withdraw.ts";

export async function runBackupJob(
  spec: BackupSpec,
  drill: { mode: DrillMode; scratchUrl?: string },
  ctx: { signal: AbortSignal; report: (p: BackupProgress) => void; onNotice: (m: string) => void },
): Promise<JobResult> {
  let last: BackupProgress | undefined;
  const track = (p: BackupProgress) => ctx.report((last = p));
  // Key custody: nothing here can decrypt what is stored, so the drill restores the dump as it streams.
  const streamed = drill.mode !== "off" && spec.recipient !== undefined;
  let streaming: StreamingDrill | undefined;
  const openPlainTee = streamed ? async (sourceBytes: number) => (streaming = await openStreamingDrill({ sourceBytes, scratchUrl: drill.scratchUrl, onNotice: ctx.onNotice })).writable : undefined;
  await abortLeftoverUploads([{ name: spec.name ?? "primary", s3: spec.s3 }, ...(spec.copies ?? [])], spec.prefix, spec.db, ctx.onNotice);
  let r: Awaited<ReturnType<typeof runBackup>>;
  try {
    r = await runBackup(spec, { signal: ctx.signal, onProgress: track, onNotice: ctx.onNotice, ...(openPlainTee ? { openPlainTee } : {}) });
  } catch (e) {
    await streaming?.abort();
    throw e;
  }
  const stored: JobResult = { manifestKey: r.manifestKey, artifactKey: r.manifest.artifact.key, manifest: r.manifest, copies: r.copies };
  if (drill.mode === "off") return stored;
  try {
    const started = performance.now() - (last?.elapsedMs ?? 0);
    // The drill reads the first healthy copy; every other healthy copy is checked by size and sha256.
    const client = new S3Client(r.primary, nodeHashing, { signal: ctx.signal });
    const targets = [{ name: spec.name ?? "primary", s3: spec.s3 }, ...(spec.copies ?? [])];
    const others = r.copies
      .slice(1)
      .filter((c) => c.ok)
      .map((c) => ({ name: c.name, client: new S3Client(targets.find((t) => t.name === c.name)!.s3, nodeHashing, { signal: ctx.signal }) }));
    const drilling = (d: NonNullable<BackupProgress["drill"]>) => last && track({ ...last, phase: "drilling", drill: { ...d }, elapsedMs: Math.round(performance.now() - started) });
    let sealed: Awaited<ReturnType<typeof recordVerdict>>;
    if (streaming) {
      drilling({ step: "counting", bytesRead: 0, bytesTotal: r.manifest.artifact.bytes });
      const record = await streaming.finish({ client, manifest: r.manifest, inventory: r.inventory });
      sealed = await recordVerdict({ client, manifest: r.manifest, manifestKey: r.manifestKey, drill: record, sealWith: spec.recipient!, copies: others });
    } else {
      sealed = await sealBackup({
        client,
        manifest: r.manifest,
        manifestKey: r.manifestKey,
        keyring: spec.keyring!,
        inventory: r.inventory,
        copies: others,
        scratchUrl: drill.scratchUrl,
        firstDrill: true,
        signal: ctx.signal,
        onNotice: ctx.onNotice,
        onProgress: drilling,
      });
    }
    // A copy whose bytes do not match is recorded as failed, like one that never finished uploading.
    const copies: CopyOutcome[] = r.copies.map((c) => {
      const check = sealed.copies.find((x) => x.name === c.name);
      return check && !check.ok ? { ...c, ok: false, error: check.error } : c;
    });
    return { ...stored, manifest: sealed.manifest, drill: sealed.drill, copies };
  } catch (e) {
    if (!ctx.signal.aborted) throw e;
    return withdrawn(spec, r.copies, stored);
  }
}

/**
 * Cancelled after the upload: "cancelled" must never sit beside a restorable backup, so the job
 * takes back what it stored. If a manifest cannot be deleted, the backup stays and the job ends as
 * what it is (stored, undrilled), with a note saying why.
 */
async function withdrawn(spec: BackupSpec, copies: CopyOutcome[], stored: JobResult): Promise<JobResult> {
  const targets = [{ name: spec.name ?? "primary", s3: spec.s3 }, ...(spec.copies ?? [])];
  const written = targets.filter((t) => copies.some((c) => c.name === t.name && c.ok));
  const w = await withdrawBackup(written, { artifact: stored.artifactKey, manifest: stored.manifestKey });
  if (w.manifestsGone) throw cancelledAfterUpload(w, stored.artifactKey);
  return { ...stored, cancelNote: `the cancel came after the upload and the backup could not be removed, so it stays, undrilled: ${w.left.join("; ")}` };
}
