// The deployed Worker on this machine: wrangler.jsonc run by wrangler's test harness (containers off, STREAMER_URL bound to a local streamer).
import { randomBytes } from "node:crypto";
import { createTestHarness, type TestHarness } from "wrangler";
import { ALERT_WEBHOOK_SECRET, pingSecret } from "../../src/alerts.ts";
import { accessKeySecret, databaseUrlSecret, drillScratchSecret, secretKeySecret, secretSuffix } from "../../src/config.ts";
import type { DrillRecord } from "../../src/shared/catalog/drill-record.ts";
import type { DrillSummary, Manifest } from "../../src/shared/catalog/manifest.ts";
import type { S3Target } from "../../src/shared/s3/s3.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
/** The destination name every local run uses; its secrets are S3_*_LOCAL. */
export const LOCAL_DESTINATION = "local";

export interface LocalWorkerOptions {
  s3: S3Target;
  prefix: string;
  /** Database name → its connection URL (becomes the DATABASE_URL_<DB> secret). */
  databases: Record<string, { url: string; schedule?: string; compression?: "zstd" | "gzip"; drill?: "local" | "scratch" | "off"; pingUrl?: string; scratchUrl?: string; alsoTo?: string[] }>;
  /** More destinations besides LOCAL_DESTINATION, for databases that write several copies (`alsoTo`). */
  extraDestinations?: { name: string; s3: S3Target }[];
  /** The keyring the deployment encrypts with… */
  keyring?: string;
  /** …or, in key custody mode, the recipient public key (PGSEAL_RECIPIENT) and no keyring at all. */
  recipient?: string;
  streamerUrl: string;
  maxConcurrentJobs?: number;
  alerts?: { webhookUrl: string; onSuccess?: boolean };
  /** Cloudflare Access in front of the dashboard (a local stand-in serves its certs). */
  access?: { teamDomain: string; aud: string };
}

/**
 * A job as GET /backups/:db/:jobId shows it, the fields a client of the API reads (docs/JOBS.md). Declared
 * here rather than imported from src/do: that code is typed for workerd, this is a plain Node client.
 */
export interface ApiJob {
  id: string;
  state: string;
  progress: {
    bytesDumped: number;
    bytesCompressed: number;
    bytesUploaded: number;
    partsUploaded: number;
    elapsedMs: number;
    table?: string;
    drill?: { step: string; bytesRead: number; bytesTotal: number };
  } | null;
  artifactKey: string | null;
  manifestKey: string | null;
  manifest: Manifest | null;
  drill: DrillSummary | null;
  drillRecord: DrillRecord | null;
  copies: { name: string; ok: boolean; error?: { code: string; message: string } }[] | null;
  error: { code: string; message: string; retryable: boolean } | null;
  events: { at: string; from: string | null; to: string; detail: string | null }[];
}

export interface LocalWorker {
  url: string;
  token: string;
  harness: TestHarness;
  /** fetch() against the Worker with the admin token; parses JSON bodies. */
  api<T = unknown>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/** PGSEAL_CONFIG and the secrets of a local deployment: the shape wrangler.jsonc and `wrangler secret put` give production. */
export function localWorkerSettings(opts: LocalWorkerOptions, token: string): { vars: { PGSEAL_CONFIG: { [k: string]: object | number } }; secrets: Record<string, string> } {
  const databases: Record<string, object> = {};
  const secrets: Record<string, string> = {
    ADMIN_TOKEN: token,
    ...(opts.recipient ? { PGSEAL_RECIPIENT: opts.recipient } : { PGSEAL_KEYRING: opts.keyring ?? "" }),
    STREAMER_URL: opts.streamerUrl,
    [accessKeySecret(LOCAL_DESTINATION)]: opts.s3.accessKeyId,
    [secretKeySecret(LOCAL_DESTINATION)]: opts.s3.secretAccessKey,
  };
  // A yearly schedule by default: a run that starts by itself would race the caller's POST.
  for (const [name, db] of Object.entries(opts.databases)) {
    const where = db.alsoTo?.length ? { destinations: [LOCAL_DESTINATION, ...db.alsoTo] } : { destination: LOCAL_DESTINATION };
    databases[name] = { schedule: db.schedule ?? "0 0 1 1 *", ...where, compression: db.compression ?? "zstd", drill: db.drill ?? "local" };
    secrets[databaseUrlSecret(name)] = db.url;
    if (db.pingUrl) secrets[pingSecret(secretSuffix(name))] = db.pingUrl;
    if (db.scratchUrl) secrets[drillScratchSecret(name)] = db.scratchUrl;
  }
  if (opts.alerts) secrets[ALERT_WEBHOOK_SECRET] = opts.alerts.webhookUrl;
  const extra: Record<string, object> = {};
  for (const d of opts.extraDestinations ?? []) {
    extra[d.name] = { endpoint: d.s3.endpoint, bucket: d.s3.bucket, region: d.s3.region, prefix: opts.prefix, pathStyle: true };
    secrets[accessKeySecret(d.name)] = d.s3.accessKeyId;
    secrets[secretKeySecret(d.name)] = d.s3.secretAccessKey;
  }
  const destination = { endpoint: opts.s3.endpoint, bucket: opts.s3.bucket, region: opts.s3.region, prefix: opts.prefix, pathStyle: true };
  return {
    vars: {
      PGSEAL_CONFIG: {
        destinations: { [LOCAL_DESTINATION]: destination, ...extra },
        databases,
        maxConcurrentJobs: opts.maxConcurrentJobs ?? 2,
        ...(opts.alerts ? { alerts: { onSuccess: opts.alerts.onSuccess ?? false } } : {}),
        ...(opts.access ? { access: opts.access } : {}),
      },
    },
    secrets,
  };
}

export async function startLocalWorker(opts: LocalWorkerOptions): Promise<LocalWorker> {
  // Miniflare otherwise asks workers.cloudflare.com for a Request.cf sample: unreachable here, and a warning.
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
  const token = randomBytes(24).toString("base64url");
  const { vars, secrets } = localWorkerSettings(opts, token);
  const harness = createTestHarness({
    root: REPO_ROOT,
    // The config is plain JSON by construction; the harness types it as its own Json.
    workers: [{ configPath: "./wrangler.jsonc", vars: JSON.parse(JSON.stringify(vars)) as Record<string, never>, secrets }],
  });
  const { url } = await harness.listen();
  const base = url.href.replace(/\/$/, "");
  const api = async <T>(path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${token}`);
    const res = await fetch(`${base}${path}`, { ...init, headers });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
  return { url: base, token, harness, api, close: () => harness.close() };
}
