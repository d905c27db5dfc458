// A cancel that came after the upload: take back what the job stored (manifest first, then artifact), and say exactly what is left.
import { PgsealError } from "../../src/shared/errors.ts";
import { S3Client, type S3Target } from "../../src/shared/s3/s3.ts";
import { nodeHashing } from "./node-hash.ts";

export interface Withdrawal {
  /** Every copy's manifest is gone: no `restore --name` can pick this backup any more. */
  manifestsGone: boolean;
  /** What could not be removed, per copy (empty when everything went). */
  left: string[];
}

/**
 * Deletes the manifest before the artifact in each copy: a backup without a manifest is never
 * restorable by name or listed as complete, so the cancel is true as soon as the manifests are gone.
 * The clients are new ones: the job's own are bound to the cancel's aborted signal.
 */
export async function withdrawBackup(copies: { name: string; s3: S3Target }[], keys: { artifact: string; manifest: string }): Promise<Withdrawal> {
  const left: string[] = [];
  let manifestsGone = true;
  for (const c of copies) {
    const client = new S3Client(c.s3, nodeHashing);
    try {
      await client.delete(keys.manifest);
    } catch (e) {
      manifestsGone = false;
      left.push(`${c.name}: ${keys.manifest} and ${keys.artifact} (${reason(e)})`);
      continue;
    }
    try {
      await client.delete(keys.artifact);
    } catch (e) {
      left.push(`${c.name}: ${keys.artifact} without its manifest (${reason(e)})`);
    }
  }
  return { manifestsGone, left };
}

function reason(e: unknown): string {
  return e instanceof PgsealError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
}

/** The cancel's error once everything that makes the backup restorable is gone. */
export function cancelledAfterUpload(w: Withdrawal, artifactKey: string): PgsealError {
  const rest = w.left.length ? `; left behind, not restorable (no manifest): ${w.left.join("; ")}` : "";
  return new PgsealError("CANCELLED", `cancelled after the upload: ${artifactKey} and its manifest were removed${rest}`);
}
