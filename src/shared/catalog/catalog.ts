// Finding backups in a bucket (Worker, streamer and CLI alike): list manifests, resolve "latest" or a given key to its manifest.
import { databasePrefix, normalizePrefix, parseKey } from "./artifact-keys.ts";
import { PgsealError } from "../errors.ts";
import { parseManifest, type Manifest } from "./manifest.ts";
import type { S3Client } from "../s3/s3.ts";

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

/**
 * A key (artifact or manifest) or, without one, the newest backup of `db` that qualifies: with
 * `sealedOnly` (what restore uses) only a sealed one, proven by a drill; otherwise the newest not
 * known bad (drill-failed is skipped). `why` says in one line which was taken and what was passed over.
 */
export async function resolveBackup(
  client: S3Client,
  prefix: string,
  ref: { key?: string; db?: string },
  opts: { sealedOnly?: boolean } = {},
): Promise<{ manifest: Manifest; manifestKey: string; why: string }> {
  if (ref.key) {
    const parsed = parseKey(ref.key);
    if (!parsed) throw new PgsealError("USAGE", `'${ref.key}' is not a pgseal artifact or manifest key (see 'pgseal list')`);
    const manifestKey = `${parsed.stem}.manifest.json`;
    if (!(await client.head(manifestKey))) {
      throw new PgsealError("ARTIFACT_NOT_FOUND", `no manifest ${manifestKey}: the backup is incomplete or does not exist (see 'pgseal list')`);
    }
    const manifest = await readManifest(client, manifestKey);
    return { manifest, manifestKey, why: `named by its key (status ${manifest.status})` };
  }
  if (!ref.db) throw new PgsealError("USAGE", "name a backup key or a database (--name) to use its latest backup");
  const skipped: Record<string, number> = {};
  const skip = (status: string) => void (skipped[status] = (skipped[status] ?? 0) + 1);
  const summary = () =>
    Object.entries(skipped)
      .map(([s, n]) => (n > 1 ? `${s} ×${n}` : s))
      .join(", ");
  const count = () => Object.values(skipped).reduce((a, b) => a + b, 0);
  for (const e of await listCatalog(client, prefix, ref.db)) {
    if (e.orphan) continue;
    const manifest = await readManifest(client, e.manifestKey);
    // A backup whose drill failed is known not to restore faithfully: never "latest".
    if (manifest.status === "drill-failed" || (opts.sealedOnly && manifest.status !== "sealed")) {
      skip(manifest.status);
      continue;
    }
    const passed = count() ? `; ${count()} newer backup(s) not sealed (${summary()}) skipped` : "";
    const why = opts.sealedOnly
      ? `the newest sealed backup${passed}${count() && !skipped["drill-failed"] ? ": --undrilled takes them" : ""}`
      : manifest.status === "sealed"
        ? `the newest backup, sealed${passed}`
        : `the newest backup: ${manifest.status}, never proven by a drill${passed}`;
    return { manifest, manifestKey: e.manifestKey, why };
  }
  const where = `under prefix '${normalizePrefix(prefix)}'`;
  if (opts.sealedOnly) {
    const hint = count() ? ` (${count()} not sealed: ${summary()}); prove one with 'pgseal drill --name ${ref.db}', or pass --undrilled to restore an undrilled one` : "";
    throw new PgsealError("ARTIFACT_NOT_FOUND", `no sealed backup of '${ref.db}' ${where}${hint}`);
  }
  const why = count() > 0 ? ` (${count()} drill-failed backup(s) skipped: name one by its key to use it anyway)` : "";
  throw new PgsealError("ARTIFACT_NOT_FOUND", `no complete backup of '${ref.db}' ${where}${why}`);
}
