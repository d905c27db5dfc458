// The S3 client pgseal needs, on aws4fetch: objects, ranged streaming GET, listing, multipart.
// Works against R2 (region "auto"), B2 and any S3-compatible store; integrity via Content-MD5,
// never x-amz-checksum-* (B2 rejects them). Retries only what is worth retrying.
import { AwsClient } from "aws4fetch";
import { toBase64 } from "./bytes.ts";
import { PgsealError, type ErrorCode } from "./errors.ts";
import type { Hashing } from "./hash.ts";

export interface S3Target {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Path-style URLs (endpoint/bucket/key); false for virtual-host style (bucket.endpoint/key). Default true. */
  pathStyle?: boolean;
}

export interface S3ClientOptions {
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
  etag: string;
}

export type Range = { start: number; end?: number } | { suffix: number };

export const DEFAULT_RETRIES = 4;
export const DEFAULT_BASE_DELAY_MS = 200;
export const DEFAULT_MAX_DELAY_MS = 5_000;
/** Aborting an upload is what keeps the bucket clean after a failure: it gets a longer budget. */
export const ABORT_RETRIES = 8;

type Query = Record<string, string>;
interface Call {
  op: string;
  method: string;
  key?: string;
  query?: Query;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  retries?: number;
  /** Statuses the caller handles itself (e.g. 404 on HEAD). */
  accept?: number[];
}

/** RFC 3986 encoding per path segment, as SigV4 canonicalisation expects. */
function encodeKey(key: string): string {
  return key
    .split("/")
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join("/");
}

function xmlValues(xml: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g");
  for (let m = re.exec(xml); m; m = re.exec(xml)) out.push(unescapeXml(m[1]));
  return out;
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (_, e: string) => {
    const named: Record<string, string> = { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" };
    if (named[e.toLowerCase()]) return named[e.toLowerCase()];
    return String.fromCodePoint(e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]!);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class S3Client {
  readonly target: S3Target;
  #aws: AwsClient;
  #hashing: Hashing;
  #opts: Required<Omit<S3ClientOptions, "signal" | "fetch">> & Pick<S3ClientOptions, "signal" | "fetch">;

  constructor(target: S3Target, hashing: Hashing, opts: S3ClientOptions = {}) {
    this.target = target;
    this.#hashing = hashing;
    // aws4fetch's own retries are off: ours know which failures are worth repeating.
    this.#aws = new AwsClient({ accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey, region: target.region, service: "s3", retries: 0 });
    this.#opts = {
      retries: opts.retries ?? DEFAULT_RETRIES,
      baseDelayMs: opts.baseDelayMs ?? DEFAULT_BASE_DELAY_MS,
      maxDelayMs: opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS,
      fetch: opts.fetch,
      signal: opts.signal,
    };
  }

  /** "endpoint bucket" or "endpoint bucket/key" for messages: never credentials. */
  where(key?: string): string {
    return `${this.target.endpoint} bucket '${this.target.bucket}'${key === undefined ? "" : ` key '${key}'`}`;
  }

  #url(key: string | undefined, query?: Query): string {
    const base = new URL(this.target.endpoint);
    const path = key === undefined ? "" : `/${encodeKey(key)}`;
    let url: string;
    if (this.target.pathStyle === false) {
      url = `${base.protocol}//${this.target.bucket}.${base.host}${path || "/"}`;
    } else {
      url = `${base.origin}${base.pathname.replace(/\/$/, "")}/${encodeURIComponent(this.target.bucket)}${path}`;
    }
    if (query) {
      const qs = Object.entries(query)
        .map(([k, v]) => (v === "" ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
        .join("&");
      if (qs) url += `?${qs}`;
    }
    return url;
  }

  async #send(call: Call): Promise<Response> {
    const retries = call.retries ?? this.#opts.retries;
    const headers: Record<string, string> = { ...call.headers };
    if (call.body !== undefined) {
      const bytes = typeof call.body === "string" ? new TextEncoder().encode(call.body) : call.body;
      headers["content-md5"] = toBase64(await this.#hashing.md5(bytes));
    }
    let last: PgsealError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        // Full jitter: many streamers retrying one store must not retry in lockstep.
        await sleep(Math.random() * Math.min(this.#opts.maxDelayMs, this.#opts.baseDelayMs * 2 ** (attempt - 1)));
      }
      if (this.#opts.signal?.aborted) throw new PgsealError("CANCELLED", `S3 ${call.op} cancelled`);
      let res: Response;
      try {
        const req = await this.#aws.sign(this.#url(call.key, call.query), { method: call.method, headers, body: call.body as BodyInit | undefined });
        res = await (this.#opts.fetch ?? fetch)(req, { signal: this.#opts.signal });
      } catch (e) {
        if (this.#opts.signal?.aborted) throw new PgsealError("CANCELLED", `S3 ${call.op} cancelled`);
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        last = new PgsealError("S3_UNAVAILABLE", `S3 ${call.op} on ${this.where(call.key)}: cannot reach the endpoint (${cause?.code ?? cause?.message ?? (e as Error).message})`, { cause: e });
        continue;
      }
      if (res.ok || call.accept?.includes(res.status)) return res;
      const err = await this.#error(res, call);
      if (!err.retryable) throw err;
      last = err;
    }
    throw new PgsealError("S3_UNAVAILABLE", `${last!.message} (gave up after ${retries + 1} attempts)`, { cause: last });
  }

  async #error(res: Response, call: Call): Promise<PgsealError> {
    const text = call.method === "HEAD" ? "" : await res.text().catch(() => "");
    const s3Code = xmlValues(text, "Code")[0] ?? "";
    const s3Message = xmlValues(text, "Message")[0] ?? res.statusText;
    let code: ErrorCode = "S3_BAD_REQUEST";
    let hint = "";
    if (res.status >= 500 || res.status === 429) code = "S3_UNAVAILABLE";
    else if (s3Code === "NoSuchBucket") {
      code = "S3_NO_SUCH_BUCKET";
      hint = ": create the bucket or fix the bucket name";
    } else if (s3Code === "NoSuchKey" || (res.status === 404 && s3Code !== "NoSuchUpload")) code = "S3_NO_SUCH_KEY";
    else if (res.status === 403 || ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"].includes(s3Code)) {
      code = "S3_FORBIDDEN";
      hint = `: check the access key id and secret for ${this.target.endpoint}, and that the key may use bucket '${this.target.bucket}'`;
    }
    const detail = [s3Code, s3Message].filter(Boolean).join(" ");
    return new PgsealError(code, `S3 ${call.op} on ${this.where(call.key)} failed: HTTP ${res.status}${detail ? ` ${detail}` : ""}${hint}`);
  }

  async put(key: string, body: Uint8Array | string, opts: { contentType?: string } = {}): Promise<{ etag: string }> {
    const headers: Record<string, string> = {};
    if (opts.contentType) headers["content-type"] = opts.contentType;
    const res = await this.#send({ op: "PutObject", method: "PUT", key, body, headers });
    await res.body?.cancel();
    return { etag: res.headers.get("etag") ?? "" };
  }

  async get(key: string, opts: { range?: Range } = {}): Promise<{ body: ReadableStream<Uint8Array>; size: number; etag: string }> {
    const headers: Record<string, string> = {};
    const r = opts.range;
    if (r) headers.range = "suffix" in r ? `bytes=-${r.suffix}` : `bytes=${r.start}-${r.end ?? ""}`;
    const res = await this.#send({ op: "GetObject", method: "GET", key, headers });
    if (!res.body) throw new PgsealError("S3_BAD_REQUEST", `S3 GetObject on ${this.where(key)} returned no body`);
    return { body: res.body, size: Number(res.headers.get("content-length") ?? -1), etag: res.headers.get("etag") ?? "" };
  }

  async head(key: string): Promise<{ size: number; etag: string; lastModified: Date } | null> {
    const res = await this.#send({ op: "HeadObject", method: "HEAD", key, accept: [404] });
    if (res.status === 404) return null;
    return { size: Number(res.headers.get("content-length")), etag: res.headers.get("etag") ?? "", lastModified: new Date(res.headers.get("last-modified") ?? 0) };
  }

  async delete(key: string): Promise<void> {
    const res = await this.#send({ op: "DeleteObject", method: "DELETE", key, accept: [404] });
    await res.body?.cancel();
  }

  async *list(prefix: string, opts: { pageSize?: number; delimiter?: string } = {}): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const query: Query = { "list-type": "2", prefix, "max-keys": String(opts.pageSize ?? 1000) };
      if (opts.delimiter) query.delimiter = opts.delimiter;
      if (token) query["continuation-token"] = token;
      const xml = await (await this.#send({ op: "ListObjectsV2", method: "GET", query })).text();
      for (const c of xmlValues(xml, "Contents")) {
        yield {
          key: xmlValues(c, "Key")[0],
          size: Number(xmlValues(c, "Size")[0]),
          lastModified: new Date(xmlValues(c, "LastModified")[0]),
          etag: xmlValues(c, "ETag")[0] ?? "",
        };
      }
      token = xmlValues(xml, "IsTruncated")[0] === "true" ? xmlValues(xml, "NextContinuationToken")[0] : undefined;
    } while (token);
  }

  async createMultipart(key: string, opts: { contentType?: string } = {}): Promise<string> {
    const headers: Record<string, string> = {};
    if (opts.contentType) headers["content-type"] = opts.contentType;
    const xml = await (await this.#send({ op: "CreateMultipartUpload", method: "POST", key, query: { uploads: "" }, headers })).text();
    const id = xmlValues(xml, "UploadId")[0];
    if (!id) throw new PgsealError("S3_BAD_REQUEST", `S3 CreateMultipartUpload on ${this.where(key)} returned no UploadId`);
    return id;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, bytes: Uint8Array): Promise<string> {
    const res = await this.#send({ op: `UploadPart ${partNumber}`, method: "PUT", key, query: { partNumber: String(partNumber), uploadId }, body: bytes });
    await res.body?.cancel();
    const etag = res.headers.get("etag");
    if (!etag) throw new PgsealError("S3_BAD_REQUEST", `S3 UploadPart ${partNumber} on ${this.where(key)} returned no ETag`);
    return etag;
  }

  async completeMultipart(key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<{ etag: string }> {
    const body =
      "<CompleteMultipartUpload>" +
      parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`).join("") +
      "</CompleteMultipartUpload>";
    const xml = await (await this.#send({ op: "CompleteMultipartUpload", method: "POST", key, query: { uploadId }, body })).text();
    // S3 may answer 200 and still fail: the error is in the body.
    if (/<Error>/.test(xml)) {
      throw new PgsealError("S3_BAD_REQUEST", `S3 CompleteMultipartUpload on ${this.where(key)} failed: ${xmlValues(xml, "Code")[0]} ${xmlValues(xml, "Message")[0] ?? ""}`);
    }
    return { etag: xmlValues(xml, "ETag")[0] ?? "" };
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    const res = await this.#send({ op: "AbortMultipartUpload", method: "DELETE", key, query: { uploadId }, accept: [404], retries: ABORT_RETRIES });
    await res.body?.cancel();
  }

  async *listMultipartUploads(prefix: string): AsyncIterable<{ key: string; uploadId: string; initiated: Date }> {
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    do {
      const query: Query = { uploads: "", prefix };
      if (keyMarker) query["key-marker"] = keyMarker;
      if (idMarker) query["upload-id-marker"] = idMarker;
      const xml = await (await this.#send({ op: "ListMultipartUploads", method: "GET", query })).text();
      for (const u of xmlValues(xml, "Upload")) {
        yield { key: xmlValues(u, "Key")[0], uploadId: xmlValues(u, "UploadId")[0], initiated: new Date(xmlValues(u, "Initiated")[0]) };
      }
      const truncated = xmlValues(xml, "IsTruncated")[0] === "true";
      keyMarker = truncated ? xmlValues(xml, "NextKeyMarker")[0] : undefined;
      idMarker = truncated ? xmlValues(xml, "NextUploadIdMarker")[0] : undefined;
    } while (keyMarker);
  }
}
