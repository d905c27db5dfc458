// Every object key pgseal reads or writes is built and parsed here; nothing else concatenates keys.
import { PgsealError } from "../errors.ts";

export type Compression = "zstd" | "gzip";

const DB_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const STAMP_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const ARTIFACT_RE = /^(.*?)([A-Za-z0-9][A-Za-z0-9_-]{0,62})\/(\d{4})\/(\d{2})\/\2_(\d{8}T\d{6}Z)\.(dump\.(zst|gz)\.pgseal|manifest\.json)$/;

export interface BackupKeys {
  /** `<prefix>/<db>/<YYYY>/<MM>/<db>_<stamp>` without extension: the identity of one backup. */
  stem: string;
  artifact: string;
  manifest: string;
}

export interface ParsedKey {
  prefix: string;
  db: string;
  createdAt: Date;
  kind: "artifact" | "manifest";
  compression?: Compression;
  stem: string;
}

export function assertDbName(db: string): void {
  if (!DB_NAME_RE.test(db)) {
    throw new PgsealError("USAGE", `database name '${db}' is not usable in object keys: use 1-63 letters, digits, '_' or '-', starting with a letter or digit`);
  }
}

/** Normalises a user prefix: no leading/trailing slashes, no empty or dot segments. */
export function normalizePrefix(prefix: string | undefined): string {
  const parts = (prefix ?? "").split("/").filter((p) => p !== "");
  if (parts.some((p) => p === "." || p === "..")) {
    throw new PgsealError("USAGE", `prefix '${prefix}' must not contain '.' or '..' segments`);
  }
  return parts.join("/");
}

function join(prefix: string, rest: string): string {
  const p = normalizePrefix(prefix);
  return p ? `${p}/${rest}` : rest;
}

export function formatStamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

export function parseStamp(stamp: string): Date | null {
  const m = STAMP_RE.exec(stamp);
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return formatStamp(d) === stamp ? d : null;
}

export function extensionFor(compression: Compression): string {
  return compression === "zstd" ? "dump.zst.pgseal" : "dump.gz.pgseal";
}

export function backupKeys(prefix: string, db: string, createdAt: Date, compression: Compression): BackupKeys {
  assertDbName(db);
  const yyyy = String(createdAt.getUTCFullYear()).padStart(4, "0");
  const mm = String(createdAt.getUTCMonth() + 1).padStart(2, "0");
  const stem = join(prefix, `${db}/${yyyy}/${mm}/${db}_${formatStamp(createdAt)}`);
  return { stem, artifact: `${stem}.${extensionFor(compression)}`, manifest: `${stem}.manifest.json` };
}

/** The listing prefix under which all backups of one database live (ends with '/'). */
export function databasePrefix(prefix: string, db: string): string {
  assertDbName(db);
  return join(prefix, `${db}/`);
}

export function reportKeys(prefix: string, month: string): { html: string; json: string } {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw new PgsealError("USAGE", `report month '${month}' must be YYYY-MM`);
  return { html: join(prefix, `reports/${month}.html`), json: join(prefix, `reports/${month}.json`) };
}

/** Parses an artifact or manifest key; null for anything pgseal did not name. */
export function parseKey(key: string): ParsedKey | null {
  const m = ARTIFACT_RE.exec(key);
  if (!m) return null;
  const [, rawPrefix, db, yyyy, mm, stamp, ext, comp] = m;
  const createdAt = parseStamp(stamp);
  if (!createdAt) return null;
  if (String(createdAt.getUTCFullYear()) !== yyyy || String(createdAt.getUTCMonth() + 1).padStart(2, "0") !== mm) return null;
  const prefix = rawPrefix.replace(/\/$/, "");
  const stem = key.slice(0, key.length - ext.length - 1);
  if (ext === "manifest.json") return { prefix, db, createdAt, kind: "manifest", stem };
  return { prefix, db, createdAt, kind: "artifact", compression: comp === "zst" ? "zstd" : "gzip", stem };
}
