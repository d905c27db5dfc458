// POST /jobs body → BackupSpec: every bad field is named at once, and no secret is ever quoted back.
import { assertDbName, normalizePrefix, type Compression } from "../../src/shared/catalog/artifact-keys.ts";
import { isPgsealError } from "../../src/shared/errors.ts";
import { parseKeyring } from "../../src/shared/format/keyring.ts";
import { parseRecipient } from "../../src/shared/format/recipient.ts";
import { MAX_PART_BYTES, MIN_PART_BYTES } from "../../src/shared/s3/multipart.ts";
import { parsePgUrl } from "../../src/shared/pg-url.ts";
import { scrub } from "../../src/shared/redact.ts";
import { DRILL_MODES, STREAMER_JOB_ID_RE, type DrillMode, type StreamerJobRequest } from "../../src/shared/contract/streamer-job.ts";
import type { BackupSpec } from "./backup.ts";
import { levelProblem } from "./stages/compress.ts";
import { endpointProblems, parseObjectLock } from "../../src/shared/s3/destination-checks.ts";
export type { DrillMode };

const TOP_FIELDS = [
  "jobId",
  "kind",
  "db",
  "databaseUrl",
  "destination",
  "copies",
  "prefix",
  "keyring",
  "recipient",
  "compression",
  "level",
  "partSizeBytes",
  "drill",
  "lockWaitTimeoutMs",
] as const satisfies readonly (keyof StreamerJobRequest)[];
// Compile-time: every field of the contract is one this parser reads (and, above, none it does not know).
const EVERY_FIELD_READ: [Exclude<keyof StreamerJobRequest, (typeof TOP_FIELDS)[number]>] extends [never] ? true : never = true;
void EVERY_FIELD_READ;
const DESTINATION_FIELDS = ["name", "endpoint", "bucket", "region", "accessKeyId", "secretAccessKey", "pathStyle", "objectLock"];
/** A day: a longer lock wait is no bound at all. */
const MAX_LOCK_WAIT_MS = 86_400_000;

export interface FieldProblem {
  field: string;
  message: string;
}

export interface JobRequest {
  jobId: string;
  spec: BackupSpec;
  /** After the upload: no drill, a throwaway cluster in the container, or a fresh database on a scratch server. */
  drill: { mode: DrillMode; scratchUrl?: string };
  /** The request's secret strings, for scrubbing anything that leaves the streamer. */
  secrets: string[];
}

export type ParseOutcome = { ok: true; request: JobRequest } | { ok: false; problems: FieldProblem[] };

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** The message of a PgsealError thrown by a shared validator, with the request's secrets removed. */
function reason(e: unknown, secrets: string[]): string {
  if (isPgsealError(e)) return scrub(e.message, secrets);
  throw e;
}

/** Every string a log line or error message must never contain, in the forms they could appear in. */
function secretsOf(body: Obj): string[] {
  const out: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === "string" && v !== "") out.push(v);
  };
  add(body.databaseUrl);
  if (typeof body.databaseUrl === "string") {
    try {
      const url = new URL(body.databaseUrl.trim());
      add(url.password);
      add(decodeURIComponent(url.password));
      add(url.searchParams.get("password"));
    } catch {
      // not a URL: the whole string is already listed
    }
  }
  if (isObject(body.destination)) add(body.destination.secretAccessKey);
  if (Array.isArray(body.copies)) for (const c of body.copies) if (isObject(c)) add(c.secretAccessKey);
  if (isObject(body.drill) && typeof body.drill.scratchUrl === "string") {
    add(body.drill.scratchUrl);
    try {
      add(decodeURIComponent(new URL(body.drill.scratchUrl).password));
    } catch {
      // not a URL: the whole string is already listed
    }
  }
  add(body.keyring);
  if (typeof body.keyring === "string") {
    for (const entry of body.keyring.split(/[\s,]+/)) {
      add(entry);
      add(entry.slice(entry.indexOf(":") + 1));
    }
  }
  // Longest first, so a secret that contains another is removed whole.
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

export function parseJobRequest(body: unknown): ParseOutcome {
  if (!isObject(body)) return { ok: false, problems: [{ field: "body", message: "must be a JSON object" }] };
  const secrets = secretsOf(body);
  const problems: FieldProblem[] = [];
  const bad = (field: string, message: string) => problems.push({ field, message });
  const str = (v: unknown, field: string, allowEmpty = false): string | undefined => {
    if (typeof v === "string" && (allowEmpty || v.trim() !== "")) return v;
    bad(field, v === undefined ? "is required" : allowEmpty ? "must be a string" : "must be a non-empty string");
    return undefined;
  };

  for (const k of Object.keys(body)) if (!(TOP_FIELDS as readonly string[]).includes(k)) bad(k, "is not a field of a job request");

  const jobId = str(body.jobId, "jobId");
  if (jobId !== undefined && !STREAMER_JOB_ID_RE.test(jobId)) bad("jobId", "must be 1-64 letters, digits, '_' or '-'");
  if (body.kind !== "backup") bad("kind", body.kind === undefined ? "is required" : 'must be "backup"');

  const db = str(body.db, "db");
  if (db !== undefined) {
    try {
      assertDbName(db);
    } catch (e) {
      bad("db", reason(e, secrets));
    }
  }

  const databaseUrl = str(body.databaseUrl, "databaseUrl");
  if (databaseUrl !== undefined) {
    try {
      parsePgUrl(databaseUrl);
    } catch (e) {
      bad("databaseUrl", reason(e, secrets));
    }
  }

  const readDestination = (dest: unknown, field: string): { name?: string; s3?: BackupSpec["s3"]; objectLock?: BackupSpec["objectLock"] } => {
    if (!isObject(dest)) {
      bad(field, dest === undefined ? "is required" : "must be an object");
      return {};
    }
    for (const k of Object.keys(dest)) if (!DESTINATION_FIELDS.includes(k)) bad(`${field}.${k}`, "is not a field of a destination");
    const name = dest.name === undefined ? undefined : str(dest.name, `${field}.name`);
    const endpoint = str(dest.endpoint, `${field}.endpoint`);
    if (endpoint !== undefined) for (const m of endpointProblems(endpoint)) bad(`${field}.endpoint`, m);
    const bucket = str(dest.bucket, `${field}.bucket`);
    const region = str(dest.region, `${field}.region`);
    const accessKeyId = str(dest.accessKeyId, `${field}.accessKeyId`);
    const secretAccessKey = str(dest.secretAccessKey, `${field}.secretAccessKey`);
    if (dest.pathStyle !== undefined && typeof dest.pathStyle !== "boolean") bad(`${field}.pathStyle`, "must be true or false");
    let objectLock: BackupSpec["objectLock"];
    const lock = dest.objectLock;
    if (lock !== undefined) {
      const parsed = parseObjectLock(lock);
      if ("problem" in parsed) bad(`${field}.objectLock`, parsed.problem);
      else objectLock = parsed.lock;
    }
    const s3 =
      endpoint && bucket && region && accessKeyId && secretAccessKey
        ? { endpoint, bucket, region, accessKeyId, secretAccessKey, ...(typeof dest.pathStyle === "boolean" ? { pathStyle: dest.pathStyle } : {}) }
        : undefined;
    return { name, s3, objectLock };
  };
  const primary = readDestination(body.destination, "destination");
  const s3 = primary.s3;
  const objectLock = primary.objectLock;
  const copies: NonNullable<BackupSpec["copies"]> = [];
  if (body.copies !== undefined) {
    if (!Array.isArray(body.copies)) bad("copies", "must be a list of destinations");
    else
      body.copies.forEach((c: unknown, i: number) => {
        const d = readDestination(c, `copies[${i}]`);
        if (!d.name) bad(`copies[${i}].name`, "is required: results name each copy");
        if (d.s3 && d.name) copies.push({ name: d.name, s3: d.s3 });
      });
  }

  const prefix = str(body.prefix, "prefix", true);
  if (prefix !== undefined) {
    try {
      normalizePrefix(prefix);
    } catch (e) {
      bad("prefix", reason(e, secrets));
    }
  }

  // The keyring encrypts, or in key custody mode a recipient's public key does (the streamer then cannot read what it wrote).
  let keyring: BackupSpec["keyring"] | undefined;
  let recipient: BackupSpec["recipient"] | undefined;
  if (body.recipient !== undefined) {
    const text = str(body.recipient, "recipient");
    if (body.keyring !== undefined) bad("keyring", "give either keyring or recipient, not both");
    if (text !== undefined) {
      try {
        recipient = parseRecipient(text);
      } catch (e) {
        bad("recipient", reason(e, secrets));
      }
    }
  } else {
    const keyringText = str(body.keyring, "keyring");
    if (keyringText !== undefined) {
      try {
        keyring = parseKeyring(keyringText);
      } catch (e) {
        bad("keyring", reason(e, secrets));
      }
    }
  }

  const compression = body.compression;
  if (compression !== "zstd" && compression !== "gzip") bad("compression", compression === undefined ? "is required" : 'must be "zstd" or "gzip"');
  const level = body.level;
  if (level !== undefined && (compression === "zstd" || compression === "gzip")) {
    const problem = levelProblem(compression, level);
    if (problem) bad("level", problem);
  } else if (level !== undefined && (typeof level !== "number" || !Number.isInteger(level))) {
    bad("level", "must be an integer");
  }
  const partSizeBytes = body.partSizeBytes;
  if (partSizeBytes !== undefined && (typeof partSizeBytes !== "number" || !Number.isInteger(partSizeBytes) || partSizeBytes < MIN_PART_BYTES || partSizeBytes > MAX_PART_BYTES)) {
    bad("partSizeBytes", `must be an integer ${MIN_PART_BYTES}-${MAX_PART_BYTES} (5 MiB to 5 GiB)`);
  }

  const lockWaitTimeoutMs = body.lockWaitTimeoutMs;
  if (lockWaitTimeoutMs !== undefined && (typeof lockWaitTimeoutMs !== "number" || !Number.isInteger(lockWaitTimeoutMs) || lockWaitTimeoutMs < 1 || lockWaitTimeoutMs > MAX_LOCK_WAIT_MS)) {
    bad("lockWaitTimeoutMs", `must be an integer 1-${MAX_LOCK_WAIT_MS} (milliseconds)`);
  }

  let drill: JobRequest["drill"] = { mode: "off" };
  if (body.drill !== undefined) {
    const d = body.drill;
    if (!isObject(d)) bad("drill", 'must be an object like {"mode": "local"}');
    else {
      for (const k of Object.keys(d)) if (k !== "mode" && k !== "scratchUrl") bad(`drill.${k}`, "is not a field of drill");
      if (!(DRILL_MODES as readonly unknown[]).includes(d.mode)) bad("drill.mode", `must be one of ${DRILL_MODES.join(", ")}`);
      const scratchUrl = d.scratchUrl;
      if (d.mode === "scratch") {
        if (typeof scratchUrl !== "string" || scratchUrl === "") bad("drill.scratchUrl", 'is required with mode "scratch"');
        else {
          try {
            parsePgUrl(scratchUrl, "drill.scratchUrl");
          } catch (e) {
            bad("drill.scratchUrl", reason(e, secrets));
          }
        }
      } else if (scratchUrl !== undefined) bad("drill.scratchUrl", 'is only used with mode "scratch"');
      if ((DRILL_MODES as readonly unknown[]).includes(d.mode)) drill = { mode: d.mode as DrillMode, ...(typeof scratchUrl === "string" ? { scratchUrl } : {}) };
    }
  }

  if (problems.length > 0 || !jobId || !db || !databaseUrl || !s3 || prefix === undefined || !(keyring || recipient)) return { ok: false, problems };
  return {
    ok: true,
    request: {
      jobId,
      secrets,
      drill,
      spec: {
        db,
        databaseUrl,
        s3,
        prefix,
        ...(keyring ? { keyring } : {}),
        ...(recipient ? { recipient } : {}),
        compression: compression as Compression,
        ...(typeof level === "number" ? { level } : {}),
        ...(typeof partSizeBytes === "number" ? { partSize: partSizeBytes } : {}),
        ...(typeof lockWaitTimeoutMs === "number" ? { lockWaitTimeoutMs } : {}),
        ...(objectLock ? { objectLock } : {}),
        ...(primary.name ? { name: primary.name } : {}),
        ...(copies.length ? { copies } : {}),
      },
    },
  };
}

/** "invalid job request: jobId: must be …; destination.bucket: is required", in the order checked. */
export function describeProblems(problems: FieldProblem[]): string {
  return `invalid job request: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`;
}
