// The S3 client pgseal needs, on aws4fetch: objects, ranged streaming GET, listing, multipart.
import { AwsClient } from "aws4fetch";
import { concatBytes, toBase64 } from "../bytes.ts";
import { PgsealError } from "../errors.ts";
import type { Hashing } from "../hash.ts";
import { redactUrl } from "../redact.ts";
import { classifyS3Error, xmlValues, escapeXml, type S3ErrorContext } from "./s3-errors.ts";

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
  /** Cancels every call, except AbortMultipartUpload: cleanup must still run after a cancel. */
  signal?: AbortSignal;
  /**
   * Send bodies as a stream of the caller's bytes with an explicit Content-Length. Node's fetch
   * (undici) copies a Uint8Array body into the Request, so every multipart part in flight would
   * cost its size twice; a stream with a Content-Length is sent from the caller's pieces as they
   * are. Off by default: workerd drops Content-Length on a stream body and sends it chunked,
   * which S3 refuses. The caller must not change the bytes until the call has returned.
   */
  streamBodies?: boolean;
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
export const DEFAULT_LIST_PAGE_SIZE = 1000;
/**
 * The body is not hashed into the signature: Content-MD5 is a signed header and every store
 * checks it, so the body is already bound to the signature, and a second full pass (sha256 runs
 * at ~425 MiB/s here, on top of MD5) would cost more than the whole upload stage.
 */
const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";

type Query = Record<string, string>;
/** A request body: one buffer, or pieces sent in order as one body (a multipart part as the pipeline handed it over). */
export type Body = Uint8Array | readonly Uint8Array[];
interface Call {
  op: string;
  method: string;
  key?: string;
  query?: Query;
  headers?: Record<string, string>;
  body?: Body;
  retries?: number;
  /** Statuses the caller handles itself (e.g. 404 on HEAD). */
  accept?: number[];
  /** Read the XML answer inside the retry loop: a 200 can still carry an <Error> (CompleteMultipartUpload). */
  xml?: boolean;
  /** Run even when the client's signal is aborted (cleanup). */
  ignoreSignal?: boolean;
}

/** RFC 3986 encoding per path segment, as SigV4 canonicalisation expects. */
function encodeKey(key: string): string {
  return key
    .split("/")
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join("/");
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** A fresh stream per attempt (a body stream can be sent only once), over the caller's pieces, uncopied. */
function piecesStream(pieces: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < pieces.length) c.enqueue(pieces[i++]);
      if (i >= pieces.length) c.close();
    },
  });
}

/** fetch reports network failures as TypeError; undici puts the OS reason (ECONNREFUSED…) in `cause`. */
function networkCause(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}

/**
 * Works against R2 (region "auto"), B2 and any S3-compatible store. Integrity via Content-MD5,
 * never x-amz-checksum-* (B2 rejects them). Retries (full-jitter backoff) only 5xx, 429 and
 * network errors; a GET stream is retried only before its body starts.
 */
/**
 * Per-object retention (S3 and B2 Object Lock): the object cannot be deleted or overwritten before
 * `retainUntil`. R2 has no per-object lock; it uses bucket lock rules instead (README).
 */
export interface ObjectLock {
  mode: "GOVERNANCE" | "COMPLIANCE";
  retainUntil: Date;
}

export function lockHeaders(lock: ObjectLock | undefined): Record<string, string> {
  if (!lock) return {};
  // Whole seconds, as S3 examples and B2 write them; sub-second precision is rejected by some stores.
  const until = new Date(Math.ceil(lock.retainUntil.getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z");
  return { "x-amz-object-lock-mode": lock.mode, "x-amz-object-lock-retain-until-date": until };
}

/** A GET's body → its Response, held as long as the body is (see `get`). */
const RESPONSE_OF_BODY = new WeakMap<ReadableStream<Uint8Array>, Response>();

export class S3Client {
  readonly target: S3Target;
  #aws: AwsClient;
  #hashing: Hashing;
  #endpoint: URL;
  #opts: Required<Omit<S3ClientOptions, "signal" | "fetch" | "streamBodies">> & Pick<S3ClientOptions, "signal" | "fetch" | "streamBodies">;

  constructor(target: S3Target, hashing: Hashing, opts: S3ClientOptions = {}) {
    this.target = target;
    this.#hashing = hashing;
    try {
      this.#endpoint = new URL(target.endpoint);
    } catch {
      throw new PgsealError("CONFIG_INVALID", `S3 endpoint '${redactUrl(target.endpoint)}' is not a URL (expected e.g. https://<account>.r2.cloudflarestorage.com)`);
    }
    // aws4fetch's own retries are off: ours know which failures are worth repeating.
    this.#aws = new AwsClient({ accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey, region: target.region, service: "s3", retries: 0 });
    this.#opts = {
      retries: opts.retries ?? DEFAULT_RETRIES,
      baseDelayMs: opts.baseDelayMs ?? DEFAULT_BASE_DELAY_MS,
      maxDelayMs: opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS,
      fetch: opts.fetch,
      signal: opts.signal,
      streamBodies: opts.streamBodies,
    };
  }

  /** "endpoint bucket 'b' key 'k'" for messages: never credentials. */
  where(key?: string): string {
    return `${redactUrl(this.target.endpoint)} bucket '${this.target.bucket}'${key === undefined ? "" : ` key '${key}'`}`;
  }

  #url(key: string | undefined, query?: Query): string {
    const base = this.#endpoint;
    if (key?.split("/").some((s) => s === "." || s === "..")) {
      // URL parsing collapses dot segments (even %2E): such a key would address another object.
      throw new PgsealError("S3_BAD_REQUEST", `S3 key '${key}' has a '.' or '..' segment, which an HTTP URL cannot carry`);
    }
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

  #cancelled(call: Call): PgsealError {
    return new PgsealError("CANCELLED", `S3 ${call.op} on ${this.where(call.key)} cancelled`);
  }

  #context(call: Call): S3ErrorContext {
    return { op: call.op, where: this.where(call.key), endpoint: redactUrl(this.target.endpoint), bucket: this.target.bucket, region: this.target.region, secrets: [this.target.secretAccessKey] };
  }

  async #send(call: Call): Promise<{ res: Response; xml: string }> {
    const retries = call.retries ?? this.#opts.retries;
    const signal = call.ignoreSignal ? undefined : this.#opts.signal;
    const url = this.#url(call.key, call.query);
    const headers: Record<string, string> = { ...call.headers, "x-amz-content-sha256": UNSIGNED_PAYLOAD };
    if (call.body !== undefined) headers["content-md5"] = toBase64(await this.#hashing.md5(call.body));
    const pieces = call.body === undefined ? undefined : call.body instanceof Uint8Array ? [call.body] : call.body;
    const length = pieces?.reduce((n, p) => n + p.length, 0) ?? 0;
    const stream = pieces !== undefined && length > 0 && this.#opts.streamBodies === true;
    if (stream) headers["content-length"] = String(length);
    const whole = pieces === undefined || stream ? undefined : pieces.length === 1 ? pieces[0] : concatBytes(pieces);
    let last: PgsealError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        // Full jitter: many streamers retrying one store must not retry in lockstep.
        await abortableSleep(Math.random() * Math.min(this.#opts.maxDelayMs, this.#opts.baseDelayMs * 2 ** (attempt - 1)), signal);
      }
      if (signal?.aborted) throw this.#cancelled(call);
      let res: Response;
      let xml = "";
      try {
        // Signed afresh per attempt: the signature carries a timestamp.
        const body = stream ? piecesStream(pieces!) : (whole as BodyInit | undefined);
        const req = await this.#aws.sign(url, { method: call.method, headers, body, ...(stream ? { duplex: "half" } : {}) } as RequestInit);
        res = await (this.#opts.fetch ?? fetch)(req, signal ? { signal } : undefined);
        if (call.xml && res.ok) xml = await res.text();
      } catch (e) {
        if (signal?.aborted) throw this.#cancelled(call);
        if (!(e instanceof TypeError)) throw e;
        last = new PgsealError("S3_UNAVAILABLE", `S3 ${call.op} on ${this.where(call.key)}: cannot reach the endpoint (${networkCause(e)})`, { cause: e });
        continue;
      }
      if (res.ok && !/^\s*(<\?xml[^>]*\?>)?\s*<Error>/.test(xml)) return { res, xml };
      if (!res.ok && call.accept?.includes(res.status)) return { res, xml };
      const text = res.ok ? xml : call.method === "HEAD" ? "" : await res.text().catch(() => "");
      const err = classifyS3Error(res.status, text, this.#context(call));
      if (!err.retryable) throw err;
      last = err;
    }
    throw new PgsealError("S3_UNAVAILABLE", `${last!.message} (gave up after ${retries + 1} attempts)`, { cause: last });
  }

  /**
   * A bucket sub-resource for diagnostics (pgseal check-bucket): the raw answer, never an error for
   * "not configured" or "not supported", because those are findings, not failures.
   */
  async bucketConfig(sub: "versioning" | "object-lock" | "lifecycle"): Promise<{ status: number; xml: string }> {
    const req = await this.#aws.sign(this.#url(undefined, { [sub]: "" }), { method: "GET", headers: { "x-amz-content-sha256": UNSIGNED_PAYLOAD } });
    try {
      const res = await (this.#opts.fetch ?? fetch)(req, this.#opts.signal ? { signal: this.#opts.signal } : undefined);
      return { status: res.status, xml: await res.text() };
    } catch (e) {
      throw new PgsealError("S3_UNAVAILABLE", `S3 GetBucket ${sub} on ${this.where()}: cannot reach the endpoint (${e instanceof TypeError ? networkCause(e) : String(e)})`, { cause: e });
    }
  }

  /** Replaces the bucket's lifecycle rules (Content-MD5 is required by S3 for this call). */
  async putBucketLifecycle(xml: string): Promise<void> {
    const { res } = await this.#send({
      op: "PutBucketLifecycleConfiguration",
      method: "PUT",
      query: { lifecycle: "" },
      body: new TextEncoder().encode(xml),
      headers: { "content-type": "application/xml" },
    });
    await res.body?.cancel();
  }

  /** Content-MD5 always; `ifNoneMatch` refuses to overwrite (S3_PRECONDITION_FAILED if the key exists). */
  async put(key: string, body: Body | string, opts: { contentType?: string; ifNoneMatch?: boolean; objectLock?: ObjectLock } = {}): Promise<{ etag: string }> {
    const headers: Record<string, string> = { ...lockHeaders(opts.objectLock) };
    if (opts.contentType) headers["content-type"] = opts.contentType;
    if (opts.ifNoneMatch) headers["if-none-match"] = "*";
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    const { res } = await this.#send({ op: "PutObject", method: "PUT", key, body: bytes, headers });
    await res.body?.cancel();
    return { etag: res.headers.get("etag") ?? "" };
  }

  /** Streams the object; retries happen only before the body starts. `size` is the length of what is returned. */
  async get(key: string, opts: { range?: Range } = {}): Promise<{ body: ReadableStream<Uint8Array>; size: number; etag: string }> {
    const headers: Record<string, string> = {};
    const r = opts.range;
    if (r) headers.range = "suffix" in r ? `bytes=-${r.suffix}` : `bytes=${r.start}-${r.end ?? ""}`;
    const { res } = await this.#send({ op: "GetObject", method: "GET", key, headers });
    const size = Number(res.headers.get("content-length") ?? 0);
    const body = res.body ?? new Blob([]).stream();
    // Node's fetch (undici) cancels the unread body of a Response the garbage collector took, and
    // callers keep only the body, sometimes for a while before reading it (a drill starts its
    // cluster meanwhile): the body keeps its Response alive.
    RESPONSE_OF_BODY.set(body, res);
    return { body, size, etag: res.headers.get("etag") ?? "" };
  }

  /** null when the key (or the whole bucket: HEAD answers carry no error code) does not exist. */
  async head(key: string): Promise<{ size: number; etag: string; lastModified: Date } | null> {
    const { res } = await this.#send({ op: "HeadObject", method: "HEAD", key, accept: [404] });
    if (res.status === 404) return null;
    return { size: Number(res.headers.get("content-length")), etag: res.headers.get("etag") ?? "", lastModified: new Date(res.headers.get("last-modified") ?? 0) };
  }

  /** Deleting a key that does not exist is not an error (S3 semantics). */
  async delete(key: string): Promise<void> {
    const { res } = await this.#send({ op: "DeleteObject", method: "DELETE", key, accept: [404] });
    await res.body?.cancel();
  }

  /** ListObjectsV2 with continuation tokens; objects only (common prefixes are not yielded). */
  async *list(prefix: string, opts: { pageSize?: number; delimiter?: string } = {}): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const query: Query = { "list-type": "2", prefix, "max-keys": String(opts.pageSize ?? DEFAULT_LIST_PAGE_SIZE) };
      if (opts.delimiter) query.delimiter = opts.delimiter;
      if (token) query["continuation-token"] = token;
      const { xml } = await this.#send({ op: "ListObjectsV2", method: "GET", query, xml: true });
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

  async createMultipart(key: string, opts: { contentType?: string; objectLock?: ObjectLock } = {}): Promise<string> {
    const headers: Record<string, string> = { ...lockHeaders(opts.objectLock) };
    if (opts.contentType) headers["content-type"] = opts.contentType;
    const { xml } = await this.#send({ op: "CreateMultipartUpload", method: "POST", key, query: { uploads: "" }, headers, xml: true });
    const id = xmlValues(xml, "UploadId")[0];
    if (!id) throw new PgsealError("S3_BAD_REQUEST", `S3 CreateMultipartUpload on ${this.where(key)} returned no UploadId`);
    return id;
  }

  /** Content-MD5 on every part; returns the part's ETag (quotes included, as Complete wants it). */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Body): Promise<string> {
    const { res } = await this.#send({ op: `UploadPart ${partNumber}`, method: "PUT", key, query: { partNumber: String(partNumber), uploadId }, body });
    await res.body?.cancel();
    const etag = res.headers.get("etag");
    if (!etag) throw new PgsealError("S3_BAD_REQUEST", `S3 UploadPart ${partNumber} on ${this.where(key)} returned no ETag`);
    return etag;
  }

  /** A 200 whose body is an <Error> is a failure (retried when the store says it was transient). */
  async completeMultipart(key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<{ etag: string }> {
    const body = "<CompleteMultipartUpload>" + parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`).join("") + "</CompleteMultipartUpload>";
    const { xml } = await this.#send({ op: "CompleteMultipartUpload", method: "POST", key, query: { uploadId }, body: new TextEncoder().encode(body), xml: true });
    return { etag: xmlValues(xml, "ETag")[0] ?? "" };
  }

  /** Best effort with a longer retry budget, and not cancelled by the client's signal. An unknown upload is fine. */
  async abortMultipart(key: string, uploadId: string): Promise<void> {
    const { res } = await this.#send({ op: "AbortMultipartUpload", method: "DELETE", key, query: { uploadId }, accept: [404], retries: ABORT_RETRIES, ignoreSignal: true });
    await res.body?.cancel();
  }

  async *listMultipartUploads(prefix: string): AsyncIterable<{ key: string; uploadId: string; initiated: Date }> {
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    do {
      const query: Query = { uploads: "", prefix };
      if (keyMarker) query["key-marker"] = keyMarker;
      if (idMarker) query["upload-id-marker"] = idMarker;
      const { xml } = await this.#send({ op: "ListMultipartUploads", method: "GET", query, xml: true });
      for (const u of xmlValues(xml, "Upload")) {
        yield { key: xmlValues(u, "Key")[0], uploadId: xmlValues(u, "UploadId")[0], initiated: new Date(xmlValues(u, "Initiated")[0]) };
      }
      const truncated = xmlValues(xml, "IsTruncated")[0] === "true";
      keyMarker = truncated ? xmlValues(xml, "NextKeyMarker")[0] : undefined;
      idMarker = truncated ? xmlValues(xml, "NextUploadIdMarker")[0] : undefined;
    } while (keyMarker);
  }
}
