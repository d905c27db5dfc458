// Finding backups in a bucket (Worker, streamer and CLI alike): list manifests, resolve "latest" or a given key to its manifest.
import { databasePrefix, normalizePrefix, parseKey } from "./artifact-keys.ts";
import { PgsealError } from "./errors.ts";
import { parseManifest, type Manifest } from "./manifest.ts";
import type { S3Client } from "./s3.ts";

export interface CatalogEntry {
  db: string;
  createdAt: Date;
  manifestKey: string;
  /** The artifact exists but its manifest does not: an interrupted or failed backup. */
  orphan: boolean;
  artifactKey?: string;
  artifactBytes?: number;
}

/** Backups under the prefix (one database or all), newest first, from one listing. */
export async function listCatalog(client: S3Client, prefix: string, db?: string): Promise<CatalogEntry[]> {
  const root = db ? databasePrefix(prefix, db) : normalizePrefix(prefix) ? `${normalizePrefix(prefix)}/` : "";
  const byStem = new Map<string, CatalogEntry>();
  for await (const obj of client.list(root)) {
    const parsed = parseKey(obj.key);
    if (!parsed || parsed.prefix !== normalizePrefix(prefix)) continue;
    const entry = byStem.get(parsed.stem) ?? { db: parsed.db, createdAt: parsed.createdAt, manifestKey: `${parsed.stem}.manifest.json`, orphan: true };
    if (parsed.kind === "manifest") entry.orphan = false;
    else {
      entry.artifactKey = obj.key;
      entry.artifactBytes = obj.size;
    }
    byStem.set(parsed.stem, entry);
  }
  return [...byStem.values()].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || a.db.localeCompare(b.db));
}

export async function readManifest(client: S3Client, manifestKey: string): Promise<Manifest> {
  const { body } = await client.get(manifestKey);
  return parseManifest(await new Response(body).text(), manifestKey);
}

/** A key (artifact or manifest) or, without one, the newest complete backup of `db` that did not fail its drill. */
export async function resolveBackup(
  client: S3Client,
  prefix: string,
  ref: { key?: string; db?: string },
): Promise<{ manifest: Manifest; manifestKey: string }> {
  if (ref.key) {
    const parsed = parseKey(ref.key);
    if (!parsed) throw new PgsealError("USAGE", `'${ref.key}' is not a pgseal artifact or manifest key (see 'pgseal list')`);
    const manifestKey = `${parsed.stem}.manifest.json`;
    if (!(await client.head(manifestKey))) {
      throw new PgsealError("ARTIFACT_NOT_FOUND", `no manifest ${manifestKey}: the backup is incomplete or does not exist (see 'pgseal list')`);
    }
    return { manifest: await readManifest(client, manifestKey), manifestKey };
  }
  if (!ref.db) throw new PgsealError("USAGE", "name a backup key or a database (--db) to use its latest backup");
  let skipped = 0;
  // A backup whose drill failed is known not to restore faithfully: "latest" means the latest not known bad.
  for (const e of await listCatalog(client, prefix, ref.db)) {
    if (e.orphan) continue;
    const manifest = await readManifest(client, e.manifestKey);
    if (manifest.status === "drill-failed") {
      skipped++;
      continue;
    }
    return { manifest, manifestKey: e.manifestKey };
  }
  const why = skipped > 0 ? ` (${skipped} drill-failed backup(s) skipped: name one by its key to use it anyway)` : "";
  throw new PgsealError("ARTIFACT_NOT_FOUND", `no complete backup of '${ref.db}' under prefix '${normalizePrefix(prefix)}'${why}`);
}
