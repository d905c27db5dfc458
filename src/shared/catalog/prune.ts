// Pruning one database's backups by its retention policy: plan from the bucket's manifests, then delete manifest first, artifact second.
import { databasePrefix } from "./artifact-keys.ts";
import { listCatalog, readManifest } from "./catalog.ts";
import { planRetention, type RetentionDecision, type RetentionItem, type RetentionPolicy } from "./retention.ts";
import type { S3Client } from "../s3/s3.ts";

/** Multipart uploads older than this under the database's prefix are leftovers of runs that died (so is any started before the newest complete backup). */
export const STALE_UPLOAD_MS = 24 * 3_600_000;

export interface PruneTarget {
  key: string;
  manifestKey: string | null;
  artifactKey: string | null;
}

export interface PrunePlan {
  db: string;
  at: string;
  policy: RetentionPolicy;
  keep: RetentionDecision[];
  delete: RetentionDecision[];
  staleUploads: { key: string; uploadId: string; initiated: string }[];
}

export interface PruneResult {
  deleted: string[];
  abortedUploads: number;
  errors: string[];
}

/** Reads every manifest of `db` (its status and lock decide), then plans; touches nothing. */
export async function planPrune(client: S3Client, prefix: string, db: string, policy: RetentionPolicy, now: Date): Promise<{ plan: PrunePlan; targets: Map<string, PruneTarget> }> {
  const items: RetentionItem[] = [];
  const targets = new Map<string, PruneTarget>();
  for (const e of await listCatalog(client, prefix, db)) {
    const key = e.artifactKey ?? e.manifestKey;
    targets.set(key, { key, manifestKey: e.orphan ? null : e.manifestKey, artifactKey: e.artifactKey ?? null });
    if (e.orphan) {
      // An artifact without a manifest never became a backup: it counts as unsealed.
      items.push({ key, createdAt: e.createdAt.toISOString(), status: "uploaded" });
      continue;
    }
    const m = await readManifest(client, e.manifestKey);
    items.push({ key, createdAt: m.createdAt, status: m.status, lockedUntil: m.artifact.lock?.retainUntil ?? null });
  }
  const decided = planRetention(items, policy, now);
  const staleUploads: PrunePlan["staleUploads"] = [];
  // Runs of one database never overlap: an upload started before the newest complete backup belongs to a run that is over.
  const newestComplete = Math.max(0, ...items.filter((i) => i.status !== "uploaded" || targets.get(i.key)?.manifestKey).map((i) => Date.parse(i.createdAt)));
  for await (const u of client.listMultipartUploads(databasePrefix(prefix, db))) {
    if (now.getTime() - u.initiated.getTime() > STALE_UPLOAD_MS || u.initiated.getTime() < newestComplete)
      staleUploads.push({ key: u.key, uploadId: u.uploadId, initiated: u.initiated.toISOString() });
  }
  return { plan: { db, at: now.toISOString(), policy, keep: decided.keep, delete: decided.delete, staleUploads }, targets };
}

/**
 * Deletes what the plan says. The manifest goes first: a backup without its manifest no longer
 * exists for list, restore or retention, so an interruption leaves at worst an orphan artifact,
 * which the next prune removes. Errors are collected, never thrown: one stuck object (e.g. a lock
 * the store enforces) must not stop the rest.
 */
export async function executePrune(client: S3Client, plan: PrunePlan, targets: Map<string, PruneTarget>): Promise<PruneResult> {
  const result: PruneResult = { deleted: [], abortedUploads: 0, errors: [] };
  for (const d of plan.delete) {
    const t = targets.get(d.key);
    if (!t) continue;
    try {
      if (t.manifestKey) await client.delete(t.manifestKey);
      if (t.artifactKey) await client.delete(t.artifactKey);
      result.deleted.push(d.key);
    } catch (e) {
      result.errors.push(`${d.key}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  for (const u of plan.staleUploads) {
    try {
      await client.abortMultipart(u.key, u.uploadId);
      result.abortedUploads++;
    } catch (e) {
      result.errors.push(`upload ${u.key}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return result;
}
