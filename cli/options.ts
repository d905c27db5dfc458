// CLI settings from flags or environment variables: bucket, credentials, keyring, database URLs.
import { readFileSync } from "node:fs";
import { PgsealError } from "../src/shared/errors.ts";
import type { DecryptKeys } from "../src/shared/format/format.ts";
import { parseKeyring, type Keyring } from "../src/shared/format/keyring.ts";
import { parsePrivateKey } from "../src/shared/format/recipient.ts";
import type { S3Target } from "../src/shared/s3/s3.ts";
import { endpointProblems } from "../src/shared/s3/destination-checks.ts";
import { redactUrl } from "../src/shared/redact.ts";

export type Flags = Record<string, string | boolean | undefined>;

/** Flag names shared by every command that touches the bucket. */
export const BUCKET_FLAGS = {
  endpoint: { type: "string" },
  bucket: { type: "string" },
  region: { type: "string" },
  prefix: { type: "string" },
  "virtual-host": { type: "boolean" },
  "keyring-file": { type: "string" },
  "private-key-file": { type: "string" },
  json: { type: "boolean" },
} as const;

export const ENV = {
  endpoint: "PGSEAL_S3_ENDPOINT",
  bucket: "PGSEAL_S3_BUCKET",
  region: "PGSEAL_S3_REGION",
  accessKeyId: "PGSEAL_S3_ACCESS_KEY_ID",
  secretAccessKey: "PGSEAL_S3_SECRET_ACCESS_KEY",
  prefix: "PGSEAL_PREFIX",
  keyring: "PGSEAL_KEYRING",
  keyringFile: "PGSEAL_KEYRING_FILE",
  privateKey: "PGSEAL_PRIVATE_KEY",
  privateKeyFile: "PGSEAL_PRIVATE_KEY_FILE",
  databaseUrl: "PGSEAL_DATABASE_URL",
  targetUrl: "PGSEAL_TARGET_URL",
} as const;

function pick(flags: Flags, flag: string, ...envs: string[]): string | undefined {
  const f = flags[flag];
  if (typeof f === "string" && f !== "") return f;
  for (const e of envs) if (process.env[e]) return process.env[e];
  return undefined;
}

/** R2 signs with region "auto"; B2's region is in its host name; everything else defaults to us-east-1. */
export function defaultRegion(endpoint: string): string {
  const host = new URL(endpoint).hostname;
  if (host.endsWith(".r2.cloudflarestorage.com")) return "auto";
  const b2 = /^s3\.([a-z0-9-]+)\.backblazeb2\.com$/.exec(host);
  return b2 ? b2[1] : "us-east-1";
}

export function s3TargetFrom(flags: Flags): S3Target {
  const missing: string[] = [];
  const endpoint = pick(flags, "endpoint", ENV.endpoint);
  const bucket = pick(flags, "bucket", ENV.bucket);
  const accessKeyId = pick(flags, "", ENV.accessKeyId, "AWS_ACCESS_KEY_ID");
  const secretAccessKey = pick(flags, "", ENV.secretAccessKey, "AWS_SECRET_ACCESS_KEY");
  if (!endpoint) missing.push(`--endpoint or ${ENV.endpoint}`);
  if (!bucket) missing.push(`--bucket or ${ENV.bucket}`);
  if (!accessKeyId) missing.push(`${ENV.accessKeyId} (or AWS_ACCESS_KEY_ID)`);
  if (!secretAccessKey) missing.push(`${ENV.secretAccessKey} (or AWS_SECRET_ACCESS_KEY)`);
  if (missing.length) throw new PgsealError("USAGE", `missing bucket settings: ${missing.join("; ")}`);
  const problems = endpointProblems(endpoint!);
  if (problems.length > 0) throw new PgsealError("USAGE", `endpoint ${redactUrl(endpoint!)}: ${problems.join("; ")}`);
  return {
    endpoint: endpoint!,
    bucket: bucket!,
    region: pick(flags, "region", ENV.region) ?? defaultRegion(endpoint!),
    accessKeyId: accessKeyId!,
    secretAccessKey: secretAccessKey!,
    pathStyle: !flags["virtual-host"],
  };
}

export function prefixFrom(flags: Flags): string {
  return pick(flags, "prefix", ENV.prefix) ?? "";
}

export function keyringFrom(flags: Flags): Keyring {
  const file = pick(flags, "keyring-file", ENV.keyringFile);
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new PgsealError("KEY_INVALID", `cannot read keyring file ${file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
    }
    return parseKeyring(text);
  }
  const inline = process.env[ENV.keyring];
  if (!inline) throw new PgsealError("USAGE", `no encryption keyring: set ${ENV.keyring} or pass --keyring-file (create one with 'pgseal keygen')`);
  return parseKeyring(inline);
}

/**
 * What can decrypt: the keyring (v1 backups) and/or private keys (v2, key custody: one entry per
 * line of --private-key-file or PGSEAL_PRIVATE_KEY). At least one of them.
 */
export async function decryptKeysFrom(flags: Flags): Promise<DecryptKeys> {
  const file = pick(flags, "private-key-file", ENV.privateKeyFile);
  let text = process.env[ENV.privateKey] ?? "";
  if (file) {
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new PgsealError("KEY_INVALID", `cannot read private key file ${file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
    }
  }
  const privateKeys = await Promise.all(
    text
      .split(/\s+/)
      .filter((l) => l !== "")
      .map((l) => parsePrivateKey(l)),
  );
  const hasKeyring = Boolean(pick(flags, "keyring-file", ENV.keyringFile) || process.env[ENV.keyring]);
  if (!hasKeyring && privateKeys.length === 0) {
    throw new PgsealError("USAGE", `no key to decrypt with: set ${ENV.keyring} or pass --keyring-file (keyring backups), or pass --private-key-file / set ${ENV.privateKey} (key custody backups)`);
  }
  return { ...(hasKeyring ? { keyring: keyringFrom(flags) } : {}), ...(privateKeys.length ? { privateKeys } : {}) };
}

export function urlFrom(flags: Flags, flag: string, env: string, what: string): string {
  const v = pick(flags, flag, env);
  if (!v) throw new PgsealError("USAGE", `missing ${what}: pass --${flag} or set ${env}`);
  return v;
}

/** What `--help` says about the flags every bucket command takes. */
export const GLOBAL_FLAG_HELP: Record<string, string> = {
  endpoint: `S3 endpoint URL (env ${ENV.endpoint})`,
  bucket: `bucket name (env ${ENV.bucket})`,
  region: `signing region (env ${ENV.region}; default auto for R2, the host's region for B2, else us-east-1)`,
  prefix: `key prefix inside the bucket (env ${ENV.prefix}; default none; the Worker's example config uses 'pgseal')`,
  "virtual-host": "virtual-host-style bucket addressing (default: path style)",
  "keyring-file": `file holding the keyring (env ${ENV.keyringFile}, or the keyring itself in ${ENV.keyring})`,
  "private-key-file": `key custody: file of private key(s) (env ${ENV.privateKeyFile}, or ${ENV.privateKey})`,
  json: "print the result as JSON on stdout",
  help: "this help",
};

/** Every environment variable the CLI reads, for `--help`. */
export const ENV_HELP: Record<string, string> = {
  [ENV.endpoint]: "S3 endpoint, e.g. https://<account>.r2.cloudflarestorage.com",
  [ENV.bucket]: "bucket name",
  [ENV.region]: "signing region",
  [ENV.accessKeyId]: "S3 access key id (or AWS_ACCESS_KEY_ID)",
  [ENV.secretAccessKey]: "S3 secret access key (or AWS_SECRET_ACCESS_KEY)",
  [ENV.prefix]: "key prefix inside the bucket",
  [ENV.keyring]: "the keyring itself (id:base64key, comma or newline separated)",
  [ENV.keyringFile]: "file holding the keyring",
  [ENV.privateKey]: "key custody: private key(s), one per line",
  [ENV.privateKeyFile]: "key custody: file of private key(s)",
  PGSEAL_RECIPIENT: "key custody: seal backups to this public key instead of the keyring",
  [ENV.databaseUrl]: "source database URL",
  [ENV.targetUrl]: "target database URL",
  PGSEAL_DRILL_SCRATCH_URL: "a server where the drill creates and drops a temporary database",
  PGSEAL_PG_BIN: "directory of the PostgreSQL binaries to use (default: the newest found)",
};

export const BUCKET_ENV = [ENV.endpoint, ENV.bucket, ENV.region, ENV.accessKeyId, ENV.secretAccessKey, ENV.prefix] as const;
export const DECRYPT_ENV = [ENV.keyring, ENV.keyringFile, ENV.privateKey, ENV.privateKeyFile] as const;
