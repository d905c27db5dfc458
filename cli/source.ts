// Which backup a command reads: a key or --name in the bucket, or a file downloaded by hand with its manifest beside it.
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import { nodeHashing } from "../container/src/node-hash.ts";
import { normalizePrefix, parseKey } from "../src/shared/catalog/artifact-keys.ts";
import { resolveBackup } from "../src/shared/catalog/catalog.ts";
import { isPgsealError, PgsealError } from "../src/shared/errors.ts";
import { parseManifest, type Manifest } from "../src/shared/catalog/manifest.ts";
import { S3Client } from "../src/shared/s3/s3.ts";
import { prefixFrom, s3TargetFrom, type Flags } from "./options.ts";

/** What the readers (openDump, runRestore, verify) need of a bucket: `get`. A local file serves it too. */
export type ArtifactReader = Pick<S3Client, "get">;

export interface BackupSource {
  reader: ArtifactReader;
  manifest: Manifest;
  manifestKey: string;
  /** "the bucket" or the local file, for messages. */
  where: string;
  /** Why this backup was taken (named by key, newest sealed of --name, a local file). */
  why: string;
}

/** A local artifact with no manifest beside it: only `verify` can work with that (and says what it could not check). */
export interface BareArtifact {
  path: string;
  compression: "zstd" | "gzip";
  expectedManifest: string;
}

const ARTIFACT_FILE_RE = /\.dump\.(zst|gz)\.pgseal$/;
const MANIFEST_FILE_RE = /\.manifest\.json$/;
/** How many keys the "found under" hint reads at most: a hint must not turn into a full bucket scan. */
const HINT_SCAN_KEYS = 5_000;

export function isLocalFile(arg: string | undefined): arg is string {
  if (!arg) return false;
  try {
    return statSync(arg).isFile();
  } catch {
    return false;
  }
}

/** The readers ask only for the artifact (the manifest is already parsed): every `get` is the file. */
function fileReader(path: string): ArtifactReader {
  return { get: async () => ({ body: Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array> }) as Awaited<ReturnType<S3Client["get"]>> };
}

/** A file as downloaded with `aws s3 cp`: the artifact (manifest expected beside it) or the manifest (artifact beside it). */
export function localBackup(path: string): BackupSource | BareArtifact {
  if (MANIFEST_FILE_RE.test(path)) {
    const manifest = parseManifest(readFileSync(path, "utf8"), path);
    const artifactPath = join(dirname(path), basename(manifest.artifact.key));
    if (!existsSync(artifactPath)) {
      throw new PgsealError("ARTIFACT_NOT_FOUND", `${artifactPath} not found: the manifest ${path} names ${manifest.artifact.key}; download it next to the manifest`);
    }
    return { reader: fileReader(artifactPath), manifest, manifestKey: path, where: artifactPath, why: `a local file (status ${manifest.status})` };
  }
  const m = ARTIFACT_FILE_RE.exec(path);
  if (!m) {
    throw new PgsealError("USAGE", `${path} is neither a pgseal artifact (*.dump.zst.pgseal, *.dump.gz.pgseal) nor a manifest (*.manifest.json)`);
  }
  const manifestPath = path.replace(ARTIFACT_FILE_RE, ".manifest.json");
  if (!existsSync(manifestPath)) return { path, compression: m[1] === "zst" ? "zstd" : "gzip", expectedManifest: manifestPath };
  const manifest = parseManifest(readFileSync(manifestPath, "utf8"), manifestPath);
  return { reader: fileReader(path), manifest, manifestKey: manifestPath, where: path, why: `a local file (status ${manifest.status})` };
}

export function isBare(s: BackupSource | BareArtifact): s is BareArtifact {
  return "expectedManifest" in s;
}

/** Where in the bucket pgseal backups are, when none are under the prefix asked for: "pgseal (db1, db2), (no prefix) (db3)". */
export async function foundUnder(client: S3Client, exceptPrefix: string): Promise<string | null> {
  const byPrefix = new Map<string, Set<string>>();
  let seen = 0;
  for await (const o of client.list("")) {
    if (++seen > HINT_SCAN_KEYS) break;
    const k = parseKey(o.key);
    if (!k || k.prefix === exceptPrefix) continue;
    byPrefix.set(k.prefix, (byPrefix.get(k.prefix) ?? new Set()).add(k.db));
  }
  if (byPrefix.size === 0) return null;
  return [...byPrefix].map(([p, dbs]) => `${p === "" ? "(no prefix)" : `--prefix ${p}`} (${[...dbs].sort().join(", ")})`).join("; ");
}

/** A backup in the bucket by key or --name; when --name finds none under the prefix, the error says under which prefixes there are backups. */
export async function resolveWithHint(client: S3Client, flags: Flags, key: string | undefined, opts: { sealedOnly?: boolean } = {}): Promise<{ manifest: Manifest; manifestKey: string; why: string }> {
  try {
    return await resolveBackup(client, prefixFrom(flags), { key, db: flags.name as string | undefined }, opts);
  } catch (e) {
    if (!isPgsealError(e, "ARTIFACT_NOT_FOUND") || key) throw e;
    const hint = await foundUnder(client, normalizePrefix(prefixFrom(flags))).catch(() => null); // the hint is a courtesy: the error stands without it
    throw hint ? new PgsealError("ARTIFACT_NOT_FOUND", `${e.message}; backups found under: ${hint}`) : e;
  }
}

/** The backup in the bucket, or the local file when the first positional names one. */
export async function backupSource(flags: Flags, positional: string | undefined, signal?: AbortSignal, opts: { sealedOnly?: boolean } = {}): Promise<BackupSource | BareArtifact> {
  if (isLocalFile(positional)) return localBackup(positional);
  const client = new S3Client(s3TargetFrom(flags), nodeHashing, signal ? { signal } : {});
  const { manifest, manifestKey, why } = await resolveWithHint(client, flags, positional, opts);
  return { reader: client, manifest, manifestKey, where: "the bucket", why };
}
