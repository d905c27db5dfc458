// Before a run: abort the multipart uploads earlier runs of the same database left open (a store that was down when they tried).
import { databasePrefix } from "../../src/shared/catalog/artifact-keys.ts";
import { S3Client, type S3Target } from "../../src/shared/s3/s3.ts";
import { nodeHashing } from "./node-hash.ts";

/**
 * Runs of one database never overlap (the Worker runs one job per database), so any upload still
 * open under its prefix when a run starts is a leftover of an earlier one and is aborted at once,
 * rather than after prune's one-day limit. Failures are notices: the backup itself can still run.
 */
export async function abortLeftoverUploads(targets: { name: string; s3: S3Target }[], prefix: string, db: string, onNotice: (m: string) => void): Promise<number> {
  let aborted = 0;
  for (const t of targets) {
    const client = new S3Client(t.s3, nodeHashing);
    try {
      for await (const u of client.listMultipartUploads(databasePrefix(prefix, db))) {
        await client.abortMultipart(u.key, u.uploadId);
        aborted++;
        onNotice(`aborted a multipart upload an earlier run left open in ${t.name}: ${u.key} (started ${u.initiated.toISOString()})`);
      }
    } catch (e) {
      onNotice(`could not clear earlier runs' open uploads in ${t.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return aborted;
}
