// S3's XML (a tiny regex reader: Workers have no DOM) and the mapping of S3 errors to PgsealError codes.
import { PgsealError, type ErrorCode } from "../errors.ts";
import { scrub } from "../redact.ts";

const NAMED_ENTITIES: Record<string, string> = { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" };

/** Text of every <tag>…</tag> (no attributes: S3 puts none on the elements we read), entities decoded. */
export function xmlValues(xml: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g");
  for (let m = re.exec(xml); m; m = re.exec(xml)) out.push(unescapeXml(m[1]));
  return out;
}

/** One pass, so "&amp;lt;" stays the literal "&lt;". */
export function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (_, e: string) => {
    const named = NAMED_ENTITIES[e.toLowerCase()];
    if (named) return named;
    return String.fromCodePoint(e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&${({ "<": "lt", ">": "gt", "&": "amp", "'": "apos", '"': "quot" } as Record<string, string>)[c]};`);
}

export interface S3ErrorContext {
  op: string;
  /** "endpoint bucket 'b' key 'k'", already redacted. */
  where: string;
  endpoint: string;
  bucket: string;
  region: string;
  /** Removed from anything the store echoes back, in case it does. */
  secrets: string[];
}

/** Error codes a store may put in a 200 answer (or any status) that mean "try again". */
const TRANSIENT_S3_CODES = new Set(["InternalError", "ServiceUnavailable", "SlowDown"]);
const FORBIDDEN_S3_CODES = new Set(["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"]);
const INTEGRITY_S3_CODES = new Set(["BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"]);

/**
 * Retryable: 5xx (but 501, which no retry fixes), 429, and transient codes inside a 200.
 * Everything else is a 4xx-class answer that repeating cannot change.
 */
export function classifyS3Error(status: number, body: string, ctx: S3ErrorContext): PgsealError {
  const s3Code = xmlValues(body, "Code")[0] ?? "";
  const s3Message = xmlValues(body, "Message")[0] ?? "";
  let code: ErrorCode = "S3_BAD_REQUEST";
  let hint = "";
  if ((status >= 500 && status !== 501) || status === 429 || TRANSIENT_S3_CODES.has(s3Code)) {
    code = "S3_UNAVAILABLE";
  } else if (s3Code === "NoSuchBucket") {
    code = "S3_NO_SUCH_BUCKET";
    hint = `: bucket '${ctx.bucket}' does not exist at ${ctx.endpoint}; create it or fix the bucket name`;
  } else if (s3Code === "NoSuchKey" || (status === 404 && (ctx.op === "GetObject" || ctx.op === "HeadObject"))) {
    code = "S3_NO_SUCH_KEY";
  } else if (status === 403 || FORBIDDEN_S3_CODES.has(s3Code)) {
    code = "S3_FORBIDDEN";
    hint = `: check the access key id and secret for ${ctx.endpoint}, and that the key may use bucket '${ctx.bucket}'`;
  } else if (INTEGRITY_S3_CODES.has(s3Code)) {
    code = "S3_INTEGRITY";
    hint = ": the bytes the store received do not match what was sent";
  } else if (status === 412 || s3Code === "PreconditionFailed") {
    code = "S3_PRECONDITION_FAILED";
    hint = ": the object already exists";
  } else if (s3Code === "AuthorizationHeaderMalformed") {
    hint = `: check the region (signing with '${ctx.region}'; R2 uses 'auto')`;
  }
  const detail = [s3Code, s3Message].filter(Boolean).join(" ");
  const message = `S3 ${ctx.op} on ${ctx.where} failed: HTTP ${status}${detail ? ` ${detail}` : ""}${hint}`;
  return new PgsealError(code, scrub(message, ctx.secrets));
}
