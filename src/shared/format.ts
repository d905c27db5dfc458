// The pgseal v1 encrypted artifact format (docs/FORMAT.md is normative): streaming encrypt/decrypt
// as Web Streams on WebCrypto, so the Worker, the streamer and the CLI share one implementation.
import { equalBytes } from "./bytes.ts";
import { PgsealError } from "./errors.ts";
import type { Keyring, MasterKey } from "./keyring.ts";

export const FORMAT_MAGIC = new TextEncoder().encode("PGSEAL");
export const FORMAT_VERSION = 1;
export const DEFAULT_SEGMENT_BYTES = 1_048_576;
export const MIN_SEGMENT_BYTES = 64;
export const MAX_SEGMENT_BYTES = 16 * 1_048_576;
export const SALT_BYTES = 32;
export const NONCE_PREFIX_BYTES = 7;
export const KEY_CHECK_BYTES = 32;
export const TAG_BYTES = 16;
export const RECORD_WORD_BYTES = 4;
const FINAL_BIT = 0x8000_0000;
const MAX_SEGMENTS = 0xffff_ffff;
const INFO_AES = new TextEncoder().encode("pgseal v1 aes-256-gcm");
const INFO_CHECK = new TextEncoder().encode("pgseal v1 key check");
/** magic ‖ version ‖ keyIdLen, then keyId, then the fixed tail. */
const HEADER_PREFIX_BYTES = FORMAT_MAGIC.length + 2;
const HEADER_TAIL_BYTES = SALT_BYTES + NONCE_PREFIX_BYTES + 4 + KEY_CHECK_BYTES;

export interface HeaderInfo {
  version: number;
  keyId: string;
  segmentSize: number;
  headerLength: number;
  salt: Uint8Array;
  noncePrefix: Uint8Array;
  keyCheck: Uint8Array;
}

export function headerLength(keyIdLength: number): number {
  return HEADER_PREFIX_BYTES + keyIdLength + HEADER_TAIL_BYTES;
}

/** Exact size of the encrypted artifact for a plaintext of `plaintextBytes`. */
export function encryptedSize(plaintextBytes: number, segmentSize: number, keyIdLength: number): number {
  const records = Math.max(1, Math.ceil(plaintextBytes / segmentSize));
  return headerLength(keyIdLength) + records * (RECORD_WORD_BYTES + TAG_BYTES) + plaintextBytes;
}

/** WebCrypto's types want ArrayBuffer-backed views; ours always are. */
const bs = (u: Uint8Array) => u as Uint8Array<ArrayBuffer>;

function fail(code: ConstructorParameters<typeof PgsealError>[0], message: string): never {
  throw new PgsealError(code, message);
}

function checkSegmentSize(n: number): void {
  if (!Number.isInteger(n) || n < MIN_SEGMENT_BYTES || n > MAX_SEGMENT_BYTES) {
    fail("FORMAT_BAD_HEADER", `segment size ${n} is outside ${MIN_SEGMENT_BYTES}..${MAX_SEGMENT_BYTES} bytes`);
  }
}

/** Parses the header at the start of `bytes` (no key needed). Throws FORMAT_TRUNCATED if incomplete. */
export function readHeader(bytes: Uint8Array): HeaderInfo {
  if (!equalBytes(bytes.subarray(0, FORMAT_MAGIC.length), FORMAT_MAGIC.subarray(0, Math.min(bytes.length, FORMAT_MAGIC.length)))) {
    fail("FORMAT_BAD_MAGIC", "not a pgseal artifact (the first bytes are not 'PGSEAL')");
  }
  if (bytes.length < HEADER_PREFIX_BYTES) fail("FORMAT_TRUNCATED", "the artifact ends inside its header");
  const version = bytes[FORMAT_MAGIC.length];
  if (version !== FORMAT_VERSION) fail("FORMAT_UNSUPPORTED_VERSION", `artifact format version ${version} is not supported (this pgseal reads version ${FORMAT_VERSION})`);
  const keyIdLength = bytes[FORMAT_MAGIC.length + 1];
  if (keyIdLength < 1 || keyIdLength > 32) fail("FORMAT_BAD_HEADER", `key id length ${keyIdLength} is outside 1..32`);
  const length = headerLength(keyIdLength);
  if (bytes.length < length) fail("FORMAT_TRUNCATED", "the artifact ends inside its header");
  let o = HEADER_PREFIX_BYTES;
  const keyId = new TextDecoder().decode(bytes.subarray(o, (o += keyIdLength)));
  if (!/^[A-Za-z0-9._-]+$/.test(keyId)) fail("FORMAT_BAD_HEADER", "the key id in the header has invalid characters");
  const salt = bytes.slice(o, (o += SALT_BYTES));
  const noncePrefix = bytes.slice(o, (o += NONCE_PREFIX_BYTES));
  const segmentSize = new DataView(bytes.buffer, bytes.byteOffset + o, 4).getUint32(0);
  o += 4;
  checkSegmentSize(segmentSize);
  const keyCheck = bytes.slice(o, (o += KEY_CHECK_BYTES));
  return { version, keyId, segmentSize, headerLength: length, salt, noncePrefix, keyCheck };
}

async function deriveKeys(master: MasterKey, salt: Uint8Array): Promise<{ aes: CryptoKey; check: Uint8Array }> {
  const ikm = await crypto.subtle.importKey("raw", bs(master.bytes), "HKDF", false, ["deriveKey", "deriveBits"]);
  const aes = await crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: bs(salt), info: INFO_AES }, ikm, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const check = new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: bs(salt), info: INFO_CHECK }, ikm, KEY_CHECK_BYTES * 8));
  return { aes, check };
}

function nonce(prefix: Uint8Array, index: number, final: boolean): Uint8Array {
  const n = new Uint8Array(12);
  n.set(prefix, 0);
  new DataView(n.buffer).setUint32(NONCE_PREFIX_BYTES, index);
  n[11] = final ? 1 : 0;
  return n;
}

function recordWord(length: number, final: boolean): Uint8Array {
  const w = new Uint8Array(RECORD_WORD_BYTES);
  new DataView(w.buffer).setUint32(0, (final ? FINAL_BIT : 0) + length);
  return w;
}

export interface EncryptOptions {
  segmentSize?: number;
  /** Fixed salt and nonce prefix, for the golden test vectors only: reusing them reuses nonces. */
  testOnly?: { salt: Uint8Array; noncePrefix: Uint8Array };
}

/** Plaintext in any chunking → header, then length-prefixed segments. Holds at most one segment. */
export function createEncryptStream(keyring: Keyring, opts: EncryptOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const segmentSize = opts.segmentSize ?? DEFAULT_SEGMENT_BYTES;
  checkSegmentSize(segmentSize);
  const master = keyring.active;
  const salt = opts.testOnly?.salt ?? crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const prefix = opts.testOnly?.noncePrefix ?? crypto.getRandomValues(new Uint8Array(NONCE_PREFIX_BYTES));
  const keyIdBytes = new TextEncoder().encode(master.id);
  let aes: CryptoKey;
  let header: Uint8Array;
  const buffer = new Uint8Array(segmentSize);
  let filled = 0;
  let index = 0;

  const seal = async (controller: TransformStreamDefaultController<Uint8Array>, final: boolean) => {
    if (index > MAX_SEGMENTS) fail("FORMAT_BAD_HEADER", `more than ${MAX_SEGMENTS} segments: use a larger segment size`);
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv: bs(nonce(prefix, index, final)), additionalData: bs(header) }, aes, bs(buffer.subarray(0, filled)));
    controller.enqueue(recordWord(filled, final));
    controller.enqueue(new Uint8Array(ct));
    index++;
    filled = 0;
  };

  return new TransformStream({
    async start(controller) {
      const keys = await deriveKeys(master, salt);
      aes = keys.aes;
      header = new Uint8Array(headerLength(keyIdBytes.length));
      let o = 0;
      header.set(FORMAT_MAGIC, o);
      o += FORMAT_MAGIC.length;
      header[o++] = FORMAT_VERSION;
      header[o++] = keyIdBytes.length;
      header.set(keyIdBytes, o);
      o += keyIdBytes.length;
      header.set(salt, o);
      o += SALT_BYTES;
      header.set(prefix, o);
      o += NONCE_PREFIX_BYTES;
      new DataView(header.buffer).setUint32(o, segmentSize);
      o += 4;
      header.set(keys.check, o);
      controller.enqueue(header);
    },
    async transform(chunk, controller) {
      let o = 0;
      while (o < chunk.length) {
        // A full segment is sealed only once more data arrives: only then is it known not to be the last.
        if (filled === segmentSize) await seal(controller, false);
        const n = Math.min(segmentSize - filled, chunk.length - o);
        buffer.set(chunk.subarray(o, o + n), filled);
        filled += n;
        o += n;
      }
    },
    async flush(controller) {
      await seal(controller, true);
    },
  });
}

/** Accumulates input chunks and hands out exact-length byte ranges. */
class ByteQueue {
  #chunks: Uint8Array[] = [];
  #head = 0;
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.length += chunk.length;
  }

  peek(n: number): Uint8Array {
    return this.#copy(n, false);
  }

  take(n: number): Uint8Array {
    return this.#copy(n, true);
  }

  #copy(n: number, consume: boolean): Uint8Array {
    const first = this.#chunks[0];
    if (first && first.length - this.#head >= n) {
      const out = first.subarray(this.#head, this.#head + n);
      if (consume) this.#advance(n);
      return out;
    }
    const out = new Uint8Array(n);
    let o = 0;
    let i = 0;
    let head = this.#head;
    while (o < n) {
      const c = this.#chunks[i];
      const take = Math.min(n - o, c.length - head);
      out.set(c.subarray(head, head + take), o);
      o += take;
      head = 0;
      i++;
    }
    if (consume) this.#advance(n);
    return out;
  }

  #advance(n: number): void {
    this.length -= n;
    while (n > 0) {
      const c = this.#chunks[0];
      const rest = c.length - this.#head;
      if (n < rest) {
        this.#head += n;
        return;
      }
      n -= rest;
      this.#chunks.shift();
      this.#head = 0;
    }
  }
}

/** Encrypted bytes in any chunking → plaintext, each segment released only after its tag verified. */
export function createDecryptStream(keyring: Keyring): TransformStream<Uint8Array, Uint8Array> {
  const queue = new ByteQueue();
  let header: HeaderInfo | undefined;
  let headerBytes: Uint8Array;
  let aes: CryptoKey;
  let index = 0;
  let done = false;

  const parseHeader = async (): Promise<boolean> => {
    const need = queue.length < HEADER_PREFIX_BYTES ? queue.length : headerLength(queue.peek(HEADER_PREFIX_BYTES)[HEADER_PREFIX_BYTES - 1]);
    try {
      header = readHeader(queue.peek(Math.min(queue.length, need)));
    } catch (e) {
      if (e instanceof PgsealError && e.code === "FORMAT_TRUNCATED") return false; // wait for more bytes
      throw e;
    }
    const master = keyring.get(header.keyId);
    if (!master) {
      fail("KEY_UNKNOWN_ID", `the artifact was encrypted with key id '${header.keyId}' but the keyring has: ${keyring.ids.join(", ")}`);
    }
    const keys = await deriveKeys(master, header.salt);
    if (!equalBytes(keys.check, header.keyCheck)) {
      fail("KEY_MISMATCH", `the keyring's key '${header.keyId}' is not the key this artifact was encrypted with (or the header is damaged)`);
    }
    aes = keys.aes;
    headerBytes = queue.take(header.headerLength).slice();
    return true;
  };

  const openRecords = async (controller: TransformStreamDefaultController<Uint8Array>) => {
    const h = header!;
    while (!done && queue.length >= RECORD_WORD_BYTES) {
      const wordBytes = queue.peek(RECORD_WORD_BYTES);
      const word = new DataView(wordBytes.buffer, wordBytes.byteOffset, 4).getUint32(0);
      const final = word >= FINAL_BIT;
      const length = word & ~FINAL_BIT;
      if (final ? length > h.segmentSize : length !== h.segmentSize) {
        fail("FORMAT_BAD_HEADER", `segment ${index} declares ${length} bytes${final ? " (final)" : ""}, the header's segment size is ${h.segmentSize}`);
      }
      if (queue.length < RECORD_WORD_BYTES + length + TAG_BYTES) return;
      queue.take(RECORD_WORD_BYTES);
      const ct = queue.take(length + TAG_BYTES);
      let pt: ArrayBuffer;
      try {
        pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bs(nonce(h.noncePrefix, index, final)), additionalData: bs(headerBytes) }, aes, bs(ct));
      } catch {
        fail("FORMAT_AUTH_FAILED", `segment ${index} failed authentication: the artifact was modified, reordered or damaged`);
      }
      if (pt.byteLength > 0) controller.enqueue(new Uint8Array(pt));
      index++;
      done = final;
    }
    if (done && queue.length > 0) fail("FORMAT_TRAILING_DATA", `${queue.length} unexpected bytes follow the final segment`);
  };

  return new TransformStream({
    async transform(chunk, controller) {
      if (done) fail("FORMAT_TRAILING_DATA", `${chunk.length} unexpected bytes follow the final segment`);
      queue.push(chunk);
      if (!header && !(await parseHeader())) return;
      await openRecords(controller);
    },
    flush() {
      if (!header) fail("FORMAT_TRUNCATED", "the artifact ends inside its header");
      if (!done) fail("FORMAT_TRUNCATED", `the artifact ends after ${index} segments without a final segment: it is truncated`);
    },
  });
}
