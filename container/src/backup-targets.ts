// The destinations of one backup: probed before it starts, one upload sink each, their outcomes collected, the manifest written to every healthy one.
import type { BackupKeys } from "../../src/shared/catalog/artifact-keys.ts";
import { PgsealError, asPgsealError, isErrorCode } from "../../src/shared/errors.ts";
import type { CopyOutcome, FanOutOutcome } from "../../src/shared/pipeline/fanout.ts";
import { serializeManifest, type Manifest } from "../../src/shared/catalog/manifest.ts";
import type { UploadResult } from "../../src/shared/s3/multipart.ts";
import { S3Client, type S3Target } from "../../src/shared/s3/s3.ts";
import { nodeHashing } from "./node-hash.ts";

export interface Target {
  name: string;
  s3: S3Target;
  client: S3Client;
}

const failed = (t: { name: string; s3: S3Target }, e: unknown, what: string): CopyOutcome => {
  const err = asPgsealError(e, "S3_UNAVAILABLE", what);
  return { name: t.name, bucket: t.s3.bucket, ok: false, error: { code: err.code, message: err.message } };
};

const combined = (outcomes: CopyOutcome[], what: string): PgsealError => {
  const first = outcomes.find((c) => c.error)?.error;
  return new PgsealError(first && isErrorCode(first.code) ? first.code : "S3_UNAVAILABLE", `${what}: ${outcomes.map((c) => `${c.name}: ${c.error?.message}`).join("; ")}`);
};

/**
 * Keys are per second: never let a second run in the same second overwrite a finished backup. A
 * destination that cannot even answer is left out of this run (recorded), as long as one can.
 */
export async function probeTargets(
  destinations: { name: string; s3: S3Target }[],
  keys: BackupKeys,
  signal: AbortSignal | undefined,
  cancelled: () => PgsealError,
): Promise<{ targets: Target[]; unreachable: CopyOutcome[] }> {
  const unreachable: CopyOutcome[] = [];
  const targets: Target[] = [];
  for (const d of destinations) {
    const t = { ...d, client: new S3Client(d.s3, nodeHashing, { signal, streamBodies: true }) };
    let exists: boolean;
    try {
      const [manifest, artifact] = await Promise.all([t.client.head(keys.manifest), t.client.head(keys.artifact)]);
      exists = Boolean(manifest || artifact);
    } catch (e) {
      if (signal?.aborted) throw cancelled();
      if (destinations.length === 1) throw asPgsealError(e, "S3_UNAVAILABLE", `copy to ${t.name}`);
      unreachable.push(failed(t, e, `copy to ${t.name}`));
      continue;
    }
    if (exists) throw new PgsealError("USAGE", `a backup named ${keys.stem} already exists in ${t.s3.bucket}; try again in a second`);
    targets.push(t);
  }
  if (targets.length === 0) throw combined(unreachable, "no destination can be written");
  return { targets, unreachable };
}

/** A copy that failed mid-way is recorded, not fatal, while another copy got every byte. The first whole copy is the primary. */
export async function collectCopies(
  targets: Target[],
  results: Promise<UploadResult>[],
  outcomes: FanOutOutcome[],
  bytesEncrypted: number,
  manifestKey: string,
): Promise<{ copies: CopyOutcome[]; uploaded: UploadResult }> {
  const copies: CopyOutcome[] = [];
  let uploaded: UploadResult | undefined;
  for (const [i, t] of targets.entries()) {
    const r = outcomes[i].ok
      ? await results[i].then(
          (v) => ({ v }),
          (e: unknown) => ({ e }),
        )
      : { e: outcomes[i].error };
    if ("v" in r && r.v.bytes === bytesEncrypted) {
      copies.push({ name: t.name, bucket: t.s3.bucket, ok: true, manifestKey });
      uploaded ??= r.v;
    } else {
      // Its multipart upload is aborted by the sink itself; this waits for that to have happened.
      await results[i].catch(() => undefined);
      copies.push(failed(t, "v" in r ? new PgsealError("S3_INTEGRITY", `uploaded ${r.v.bytes} bytes but the pipeline produced ${bytesEncrypted}`) : r.e, `copy to ${t.name}`));
    }
  }
  if (!uploaded) throw combined(copies, "no copy of the backup was stored");
  return { copies, uploaded };
}

/** Written last, in every bucket that holds the artifact: a backup without its manifest does not exist. Returns the copies with the healthy one first. */
export async function writeManifests(
  targets: Target[],
  copies: CopyOutcome[],
  unreachable: CopyOutcome[],
  manifest: Manifest,
  manifestKey: string,
): Promise<{ copies: CopyOutcome[]; primary: S3Target }> {
  const after = [...copies];
  for (const [i, c] of copies.entries()) {
    if (!c.ok) continue;
    try {
      await targets[i].client.put(manifestKey, serializeManifest(manifest), { contentType: "application/json" });
    } catch (e) {
      after[i] = failed(targets[i], e, `manifest to ${c.name}`);
    }
  }
  const healthy = after.findIndex((c) => c.ok);
  if (healthy < 0) throw combined([...after, ...unreachable], "no manifest could be written");
  const all = [...after, ...unreachable];
  return { copies: [all[healthy], ...all.filter((_, i) => i !== healthy)], primary: targets[healthy].s3 };
}
