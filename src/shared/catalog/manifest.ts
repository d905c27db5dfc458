// The backup manifest: written last (no manifest, no backup), read first by restore and verify.
// It holds no secrets and no schema information (table names belong in encrypted sections).
import type { Compression } from "./artifact-keys.ts";
import { PgsealError } from "../errors.ts";
import { statusOfVerdict, type DrillVerdict, type VerdictStatus } from "../contract/verdict.ts";

export const MANIFEST_FORMAT = "pgseal-manifest";
export const MANIFEST_VERSION = 1;

export type ManifestStatus = "uploaded" | VerdictStatus;

/** Whether a drill compared content or row counts only, how much it hashed, and why not when it could not. */
export interface ContentProof {
  proof: "content-exact" | "counts-only";
  tables: number;
  bytes: number;
  reason?: string;
}

/** What a drill proved, in the clear: numbers and codes only (names of tables live in `sealed.drill`). */
export interface DrillSummary {
  at: string;
  verdict: DrillVerdict;
  code?: string;
  reason?: string;
  target: "local-cluster" | "scratch-database";
  restoreFlags: string[];
  restoreSeconds: number;
  countSeconds: number;
  totalSeconds: number;
  tables: number;
  rows: number;
  /** Absent in drills made before content digests (counts only). */
  content?: ContentProof;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  db: string;
  createdAt: string;
  status: ManifestStatus;
  tool: { name: "pgseal"; version: string };
  source: { host: string; database: string; serverVersion: string; serverMajor: number; sizeBytes: number };
  dump: { format: "custom"; pgDumpVersion: string; bytes: number };
  compression: { algorithm: Compression; level: number; bytes: number };
  /** pgseal-v2: sealed to the recipient `keyId` (public-key mode); the deployment cannot read it. */
  encryption: { format: "pgseal-v1" | "pgseal-v2"; keyId: string; segmentSize: number; bytes: number };
  /** `lock`: the object lock sent with the upload; the artifact cannot be deleted before `retainUntil`. */
  /** `headerSha256`: binds the manifest to this one artifact (docs/FORMAT.md "Binding"); absent in manifests written before it. */
  artifact: { key: string; bytes: number; sha256: string; headerSha256?: string; partSize: number; parts: number; lock?: { mode: "GOVERNANCE" | "COMPLIANCE"; retainUntil: string } };
  timings: { dumpSeconds: number; totalSeconds: number };
  /** Present once the backup was drilled; `status` says what it concluded. */
  drill?: DrillSummary;
  /**
   * Schema-bearing sections, each a base64 pgseal-v1 ciphertext under the artifact's keyring
   * (src/shared/format/sealed-json.ts): `inventory` = what the dump held (tables, rows, sequences, objects),
   * `drill` = the drill's per-table expected/actual and pg_restore's warnings. The inventory also
   * holds each table's content digest (container/src/stages/copy-digest.ts).
   */
  sealed?: { inventory?: string; drill?: string };
}

type Check = (v: unknown) => boolean;
const str: Check = (v) => typeof v === "string" && v.length > 0;
const nat: Check = (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const num: Check = (v) => typeof v === "number" && Number.isFinite(v) && v >= 0;
const oneOf =
  (...xs: unknown[]): Check =>
  (v) =>
    xs.includes(v);

const optional =
  (ok: Check): Check =>
  (v) =>
    v === undefined || ok(v);

const SHAPE: Record<string, Check> = {
  format: oneOf(MANIFEST_FORMAT),
  version: oneOf(MANIFEST_VERSION),
  db: str,
  createdAt: (v) => str(v) && !Number.isNaN(Date.parse(v as string)),
  status: oneOf("uploaded", "sealed", "drill-failed", "drill-skipped"),
  "tool.name": oneOf("pgseal"),
  "tool.version": str,
  "source.host": str,
  "source.database": str,
  "source.serverVersion": str,
  "source.serverMajor": nat,
  "source.sizeBytes": nat,
  "dump.format": oneOf("custom"),
  "dump.pgDumpVersion": str,
  "dump.bytes": nat,
  "compression.algorithm": oneOf("zstd", "gzip"),
  "compression.level": nat,
  "compression.bytes": nat,
  "encryption.format": oneOf("pgseal-v1", "pgseal-v2"),
  "encryption.keyId": str,
  "encryption.segmentSize": nat,
  "encryption.bytes": nat,
  "artifact.key": str,
  "artifact.bytes": nat,
  "artifact.sha256": (v) => typeof v === "string" && /^[0-9a-f]{64}$/.test(v),
  "artifact.headerSha256": optional((v) => typeof v === "string" && /^[0-9a-f]{64}$/.test(v)),
  "artifact.partSize": nat,
  "artifact.parts": nat,
  "timings.dumpSeconds": num,
  "timings.totalSeconds": num,
};

const b64: Check = (v) => typeof v === "string" && /^[A-Za-z0-9+/]+=*$/.test(v);
const DRILL_SHAPE: Record<string, Check> = {
  "drill.at": (v) => str(v) && !Number.isNaN(Date.parse(v as string)),
  "drill.verdict": oneOf("pass", "fail", "skipped"),
  "drill.code": optional(str),
  "drill.reason": optional((v) => typeof v === "string"),
  "drill.target": oneOf("local-cluster", "scratch-database"),
  "drill.restoreFlags": (v) => Array.isArray(v) && v.every(str),
  "drill.restoreSeconds": num,
  "drill.countSeconds": num,
  "drill.totalSeconds": num,
  "drill.tables": nat,
  "drill.rows": nat,
  "drill.content.proof": optional(oneOf("content-exact", "counts-only")),
  "drill.content.tables": (v) => v === undefined || nat(v),
  "drill.content.bytes": (v) => v === undefined || nat(v),
};

function at(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const p of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** Names every bad field at once, so one read of the error explains the whole problem. */
export function validateManifest(value: unknown): string[] {
  const checks = {
    ...SHAPE,
    ...(at(value, "drill") === undefined ? {} : DRILL_SHAPE),
    "sealed.inventory": optional(b64),
    "artifact.lock.mode": at(value, "artifact.lock") === undefined ? () => true : oneOf("GOVERNANCE", "COMPLIANCE"),
    "artifact.lock.retainUntil": at(value, "artifact.lock") === undefined ? () => true : (v: unknown) => str(v) && !Number.isNaN(Date.parse(v as string)),
    "sealed.drill": optional(b64),
  };
  const bad = Object.entries(checks)
    .filter(([path, ok]) => !ok(at(value, path)))
    .map(([path]) => path);
  // The status and the drill must tell the same story: nothing is sealed without a passing drill.
  const status = at(value, "status");
  const verdict = at(value, "drill.verdict");
  if (typeof status === "string" && statusOfVerdict(verdict as DrillVerdict | undefined) !== status && !bad.includes("status")) bad.push("status (does not match drill.verdict)");
  return bad;
}

export function parseManifest(text: string, key: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PgsealError("MANIFEST_INVALID", `manifest ${key} is not valid JSON`);
  }
  const bad = validateManifest(value);
  if (bad.length) throw new PgsealError("MANIFEST_INVALID", `manifest ${key} has missing or invalid fields: ${bad.join(", ")}`);
  return value as Manifest;
}

export function serializeManifest(m: Manifest): string {
  const bad = validateManifest(m);
  if (bad.length) throw new PgsealError("MANIFEST_INVALID", `refusing to write a manifest with invalid fields: ${bad.join(", ")}`);
  return JSON.stringify(m, null, 2) + "\n";
}
