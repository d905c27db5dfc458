// Bucket hygiene: can pgseal write, read, list and delete here; is versioning/object lock on; does a lifecycle rule abort stale multipart uploads.
import { normalizePrefix } from "../catalog/artifact-keys.ts";
import { toHex } from "../bytes.ts";
import type { S3Client } from "./s3.ts";

export interface BucketFinding {
  check: "write" | "read" | "list" | "delete" | "versioning" | "object-lock" | "abort-incomplete-uploads" | "r2-bucket-lock";
  /** true: fine; false: a problem to fix; null: not supported or not visible through the S3 API. */
  ok: boolean | null;
  detail: string;
}

export const LIFECYCLE_RULE_ID = "pgseal-abort-incomplete-multipart";
export const ABORT_AFTER_DAYS = 1;

/** Some stores answer an unknown sub-resource with a plain bucket listing: only the expected document counts. */
const answered = (r: { status: number; xml: string }, root: string) => r.status === 200 && new RegExp(`<${root}[\\s>/]`).test(r.xml);
const tag = (xml: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
const isR2 = (endpoint: string) => /\.r2\.cloudflarestorage\.com$/i.test(new URL(endpoint).hostname);

async function step(findings: BucketFinding[], check: BucketFinding["check"], run: () => Promise<string>): Promise<boolean> {
  try {
    findings.push({ check, ok: true, detail: await run() });
    return true;
  } catch (e) {
    findings.push({ check, ok: false, detail: e instanceof Error ? e.message : String(e) });
    return false;
  }
}

/** Whether a lifecycle document aborts incomplete multipart uploads for keys under `prefix`. */
export function abortRuleCovers(xml: string, prefix: string): { covered: boolean; days?: number } {
  for (const rule of xml.split("<Rule>").slice(1)) {
    if (tag(rule, "Status") !== "Enabled") continue;
    const days = Number(tag(rule, "DaysAfterInitiation"));
    if (!rule.includes("<AbortIncompleteMultipartUpload>") || !Number.isFinite(days)) continue;
    const rulePrefix = tag(rule, "Prefix") ?? "";
    if (prefix.startsWith(rulePrefix)) return { covered: true, days };
  }
  return { covered: false };
}

export async function checkBucket(client: S3Client, prefix: string): Promise<BucketFinding[]> {
  const findings: BucketFinding[] = [];
  const p = normalizePrefix(prefix);
  const probeKey = `${p ? `${p}/` : ""}.pgseal-check/${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
  const body = `pgseal bucket check ${new Date().toISOString()}`;
  if (await step(findings, "write", async () => (await client.put(probeKey, body), `wrote ${probeKey}`))) {
    await step(findings, "read", async () => {
      const text = await new Response((await client.get(probeKey)).body).text();
      if (text !== body) throw new Error(`read back ${text.length} bytes that differ from what was written`);
      return "read it back byte for byte";
    });
    await step(findings, "list", async () => {
      for await (const o of client.list(probeKey)) if (o.key === probeKey) return "listed it";
      throw new Error(`the listing of ${probeKey} does not show the object just written`);
    });
    await step(findings, "delete", async () => {
      await client.delete(probeKey);
      if (await client.head(probeKey)) throw new Error("the object is still there after DELETE (versioning keeps the old version, which is fine; a store that ignores DELETE is not)");
      return "deleted it";
    });
  }

  const versioning = await client.bucketConfig("versioning");
  const vStatus = answered(versioning, "VersioningConfiguration") ? (tag(versioning.xml, "Status") ?? "never enabled") : null;
  findings.push({
    check: "versioning",
    ok: vStatus === null ? null : vStatus === "Enabled",
    detail: vStatus === null ? `not available through this store's S3 API (HTTP ${versioning.status})` : `versioning: ${vStatus}`,
  });

  const lock = await client.bucketConfig("object-lock");
  const lockKnown = answered(lock, "ObjectLockConfiguration") || (lock.status === 404 && /ObjectLockConfigurationNotFound/.test(lock.xml));
  const lockOn = answered(lock, "ObjectLockConfiguration") && tag(lock.xml, "ObjectLockEnabled") === "Enabled";
  findings.push({
    check: "object-lock",
    ok: lockKnown ? lockOn : null,
    detail: lockOn
      ? `object lock enabled${tag(lock.xml, "Mode") ? `, default ${tag(lock.xml, "Mode")} ${tag(lock.xml, "Days") ?? tag(lock.xml, "Years") ?? ""}` : ""}`
      : lockKnown
        ? "object lock is not enabled on this bucket (S3 and B2 turn it on only when the bucket is created)"
        : `not available through this store's S3 API (HTTP ${lock.status}${lock.status === 200 ? ", not an object lock document" : ""}): artifacts' lock headers are sent but cannot be relied on`,
  });

  const lifecycle = await client.bucketConfig("lifecycle");
  if (answered(lifecycle, "LifecycleConfiguration")) {
    const rule = abortRuleCovers(lifecycle.xml, p ? `${p}/` : "");
    findings.push({
      check: "abort-incomplete-uploads",
      ok: rule.covered,
      detail: rule.covered
        ? `a lifecycle rule aborts incomplete multipart uploads after ${rule.days} day(s)`
        : "no lifecycle rule aborts incomplete multipart uploads under the prefix: run pgseal setup-bucket",
    });
  } else if (lifecycle.status === 404 && /NoSuchLifecycleConfiguration/.test(lifecycle.xml)) {
    findings.push({ check: "abort-incomplete-uploads", ok: false, detail: "the bucket has no lifecycle rules: run pgseal setup-bucket to add one that aborts incomplete multipart uploads" });
  } else {
    findings.push({
      check: "abort-incomplete-uploads",
      ok: null,
      detail: `lifecycle rules are not available through this store's S3 API (HTTP ${lifecycle.status}); the Worker aborts stale uploads under the prefix itself after each sealed backup`,
    });
  }

  if (isR2(client.target.endpoint)) {
    findings.push({
      check: "r2-bucket-lock",
      ok: null,
      detail: `R2 bucket locks are not visible through the S3 API: check with 'npx wrangler r2 bucket lock list ${client.target.bucket}' (README, Immutability)`,
    });
  }
  return findings;
}

/** What setup-bucket may do: extend the store's lifecycle document, create the first one, or nothing (unsupported). */
export function lifecycleState(r: { status: number; xml: string }): { supported: boolean; existing: string | null } {
  if (answered(r, "LifecycleConfiguration")) return { supported: true, existing: r.xml };
  if (r.status === 404 && /NoSuchLifecycleConfiguration/.test(r.xml)) return { supported: true, existing: null };
  return { supported: false, existing: null };
}

/** A lifecycle document with our abort rule added to `existing` (kept whole), or null if one already covers the prefix. */
export function withAbortRule(existing: string | null, prefix: string): string | null {
  const p = normalizePrefix(prefix);
  const rulePrefix = p ? `${p}/` : "";
  if (existing && abortRuleCovers(existing, rulePrefix).covered) return null;
  const rule = `<Rule><ID>${LIFECYCLE_RULE_ID}</ID><Filter><Prefix>${rulePrefix}</Prefix></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>${ABORT_AFTER_DAYS}</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>`;
  if (existing?.includes("</LifecycleConfiguration>")) {
    if (existing.includes(`<ID>${LIFECYCLE_RULE_ID}</ID>`)) return null; // ours, perhaps edited by hand: leave it
    return existing.replace("</LifecycleConfiguration>", `${rule}</LifecycleConfiguration>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?><LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${rule}</LifecycleConfiguration>`;
}
