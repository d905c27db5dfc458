// The pgseal encrypted artifact format (docs/FORMAT.md is normative): v1 under a keyring, v2 sealed to an X25519 recipient;
// as Web Streams on WebCrypto, so the Worker, the streamer and the CLI share one implementation.
import { equalBytes } from "../bytes.ts";
import { PgsealError, type ErrorCode } from "../errors.ts";
import { ByteRanges } from "./byte-ranges.ts";
import type { Keyring, MasterKey } from "./keyring.ts";
import { unwrapDataKey, WRAP_BLOCK_BYTES, wrapDataKey, type RecipientPrivateKey, type RecipientPublicKey } from "./recipient.ts";

export const FORMAT_MAGIC = new TextEncoder().encode("PGSEAL");
export const FORMAT_VERSION = 1;
/** Version 2: the v1 layout for recipient (public-key) mode, plus a wrapped data key after the header. */
export const FORMAT_VERSION_RECIPIENT = 2;
export const DEFAULT_SEGMENT_BYTES = 1_048_576;
export const MIN_SEGMENT_BYTES = 64;
export const MAX_SEGMENT_BYTES = 16 * 1_048_576;
export const SALT_BYTES = 32;
export const NONCE_PREFIX_BYTES = 7;
export const KEY_CHECK_BYTES = 32;
export const TAG_BYTES = 16;
export const RECORD_WORD_BYTES = 4;
export const MAX_KEY_ID_BYTES = 32;
/** Records per artifact; the index is a u32 in the nonce, and 2^32 − 1 keeps "count" a u32 too. */
export const MAX_SEGMENTS = 0xffff_ffff;
const FINAL_BIT = 0x8000_0000;
const NONCE_BYTES = 12;
const INFO_AES = new TextEncoder().encode("pgseal v1 aes-256-gcm");
const INFO_CHECK = new TextEncoder().encode("pgseal v1 key check");
const KEY_ID_RE = /^[A-Za-z0-9._-]+$/;
/** magic ‖ version ‖ keyIdLen, then keyId, then the fixed tail. */
const HEADER_PREFIX_BYTES = FORMAT_MAGIC.length + 2;
const HEADER_TAIL_BYTES = SALT_BYTES + NONCE_PREFIX_BYTES + 4 + KEY_CHECK_BYTES;
export const MIN_HEADER_BYTES = HEADER_PREFIX_BYTES + 1 + HEADER_TAIL_BYTES;
export const MAX_HEADER_BYTES = HEADER_PREFIX_BYTES + MAX_KEY_ID_BYTES + HEADER_TAIL_BYTES;

export interface HeaderInfo {
  version: number;
  /** v2: ephemeral X25519 public key ‖ wrapped data key; its AAD is the header before it. */
  wrapBlock?: Uint8Array;
  keyId: string;
  segmentSize: number;
  headerLength: number;
  salt: Uint8Array;
  noncePrefix: Uint8Array;
  keyCheck: Uint8Array;
}

export function headerLength(keyIdLength: number, version = FORMAT_VERSION): number {
  return HEADER_PREFIX_BYTES + keyIdLength + HEADER_TAIL_BYTES + (version === FORMAT_VERSION_RECIPIENT ? WRAP_BLOCK_BYTES : 0);
}

function fail(code: ErrorCode, message: string): never {
  throw new PgsealError(code, message);
}

function segmentSizeInRange(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_SEGMENT_BYTES && n <= MAX_SEGMENT_BYTES;
}

function checkSegmentOption(n: number): void {
  if (!segmentSizeInRange(n)) fail("CONFIG_INVALID", `segment size ${n} is outside ${MIN_SEGMENT_BYTES}..${MAX_SEGMENT_BYTES} bytes`);
}

/** Exact size of the encrypted artifact for a plaintext of `plaintextBytes`. */
export function encryptedSize(plaintextBytes: number, segmentSize: number, keyIdLength: number): number {
  checkSegmentOption(segmentSize);
  if (!Number.isInteger(keyIdLength) || keyIdLength < 1 || keyIdLength > MAX_KEY_ID_BYTES) {
    fail("CONFIG_INVALID", `key id length ${keyIdLength} is outside 1..${MAX_KEY_ID_BYTES}`);
  }
  if (!Number.isSafeInteger(plaintextBytes) || plaintextBytes < 0) fail("CONFIG_INVALID", `plaintext size ${plaintextBytes} is not a byte count`);
  const records = Math.max(1, Math.ceil(plaintextBytes / segmentSize));
  if (records > MAX_SEGMENTS) fail("CONFIG_INVALID", `${plaintextBytes} bytes need more than ${MAX_SEGMENTS} segments of ${segmentSize} bytes`);
  const size = headerLength(keyIdLength) + records * (RECORD_WORD_BYTES + TAG_BYTES) + plaintextBytes;
  if (!Number.isSafeInteger(size)) fail("CONFIG_INVALID", `an artifact of ${plaintextBytes} bytes is too large to size exactly`);
  return size;
}

/** WebCrypto's types want ArrayBuffer-backed views; ours always are. */
const bs = (u: Uint8Array) => u as Uint8Array<ArrayBuffer>;

/** Parses the header at the start of `bytes` (no key needed). Throws FORMAT_TRUNCATED if incomplete. */
export function readHeader(bytes: Uint8Array): HeaderInfo {
  // Compare only what is there, so a non-artifact is named as such after its first differing byte.
  const seen = Math.min(bytes.length, FORMAT_MAGIC.length);
  if (!equalBytes(bytes.subarray(0, seen), FORMAT_MAGIC.subarray(0, seen))) {
    fail("FORMAT_BAD_MAGIC", "not a pgseal artifact (the first bytes are not 'PGSEAL')");
  }
  if (bytes.length < HEADER_PREFIX_BYTES) fail("FORMAT_TRUNCATED", "the artifact ends inside its header");
  const version = bytes[FORMAT_MAGIC.length];
  if (version !== FORMAT_VERSION && version !== FORMAT_VERSION_RECIPIENT) {
    fail("FORMAT_UNSUPPORTED_VERSION", `artifact format version ${version} is not supported (this pgseal reads versions ${FORMAT_VERSION} and ${FORMAT_VERSION_RECIPIENT})`);
  }
  const keyIdLength = bytes[FORMAT_MAGIC.length + 1];
  if (keyIdLength < 1 || keyIdLength > MAX_KEY_ID_BYTES) fail("FORMAT_BAD_HEADER", `key id length ${keyIdLength} is outside 1..${MAX_KEY_ID_BYTES}`);
  const length = headerLength(keyIdLength, version);
  if (bytes.length < length) fail("FORMAT_TRUNCATED", "the artifact ends inside its header");
  let o = HEADER_PREFIX_BYTES;
  const keyId = new TextDecoder().decode(bytes.subarray(o, (o += keyIdLength)));
  if (!KEY_ID_RE.test(keyId)) fail("FORMAT_BAD_HEADER", "the key id in the header has characters outside [A-Za-z0-9._-]");
  const salt = bytes.slice(o, (o += SALT_BYTES));
  const noncePrefix = bytes.slice(o, (o += NONCE_PREFIX_BYTES));
  const segmentSize = new DataView(bytes.buffer, bytes.byteOffset + o, 4).getUint32(0);
  o += 4;
  if (!segmentSizeInRange(segmentSize)) fail("FORMAT_BAD_HEADER", `the header's segment size ${segmentSize} is outside ${MIN_SEGMENT_BYTES}..${MAX_SEGMENT_BYTES} bytes`);
  const keyCheck = bytes.slice(o, (o += KEY_CHECK_BYTES));
  const wrapBlock = version === FORMAT_VERSION_RECIPIENT ? bytes.slice(o, o + WRAP_BLOCK_BYTES) : undefined;
  return { version, keyId, segmentSize, headerLength: length, salt, noncePrefix, keyCheck, ...(wrapBlock ? { wrapBlock } : {}) };
}

async function deriveKeys(master: MasterKey, salt: Uint8Array): Promise<{ aes: CryptoKey; check: Uint8Array }> {
  const ikm = await crypto.subtle.importKey("raw", bs(master.bytes), "HKDF", false, ["deriveKey", "deriveBits"]);
  const hkdf = (info: Uint8Array) => ({ name: "HKDF", hash: "SHA-256", salt: bs(salt), info: bs(info) });
  const aes = await crypto.subtle.deriveKey(hkdf(INFO_AES), ikm, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const check = new Uint8Array(await crypto.subtle.deriveBits(hkdf(INFO_CHECK), ikm, KEY_CHECK_BYTES * 8));
  return { aes, check };
}

function nonce(prefix: Uint8Array, index: number, final: boolean): Uint8Array<ArrayBuffer> {
  const n = new Uint8Array(NONCE_BYTES);
  n.set(prefix, 0);
  new DataView(n.buffer).setUint32(NONCE_PREFIX_BYTES, index);
  n[NONCE_BYTES - 1] = final ? 1 : 0;
  return n;
}

function recordWord(length: number, final: boolean): Uint8Array {
  const w = new Uint8Array(RECORD_WORD_BYTES);
  new DataView(w.buffer).setUint32(0, (final ? FINAL_BIT : 0) + length);
  return w;
}

/** The header without a wrap block (all of it in v1; in v2 the part the wrap block authenticates). */
function buildHeader(keyId: string, salt: Uint8Array, prefix: Uint8Array, segmentSize: number, keyCheck: Uint8Array, version = FORMAT_VERSION): Uint8Array<ArrayBuffer> {
  const id = new TextEncoder().encode(keyId);
  const header = new Uint8Array(headerLength(id.length));
  const view = new DataView(header.buffer);
  let o = 0;
  header.set(FORMAT_MAGIC, o);
  o += FORMAT_MAGIC.length;
  header[o++] = version;
  header[o++] = id.length;
  header.set(id, o);
  o += id.length;
  header.set(salt, o);
  o += SALT_BYTES;
  header.set(prefix, o);
  o += NONCE_PREFIX_BYTES;
  view.setUint32(o, segmentSize);
  o += 4;
  header.set(keyCheck, o);
  return header;
}

/** A crypto.subtle call started now and awaited later: marked handled at once so an early
 * rejection is not reported as unhandled while the previous segment is still being emitted. */
function started<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

export interface EncryptOptions {
  segmentSize?: number;
  /**
   * Where sealed records go: a pool of `sealedRecordBytes(segmentSize)` buffers that the sinks give
   * back once they are done with them (a record is then one chunk: its word and its ciphertext).
   * Without it every record is a fresh WebCrypto buffer that only the garbage collector frees.
   */
  records?: RecordPool;
  /**
   * Fixed randomness, for the golden test vectors only (reusing it reuses nonces): salt and nonce
   * prefix, and in recipient mode the data key and the ephemeral X25519 private key.
   */
  testOnly?: { salt: Uint8Array; noncePrefix: Uint8Array; dataKey?: Uint8Array; ephemeralPrivate?: Uint8Array };
}

/** A full record, word and tag included: the size of the buffers `EncryptOptions.records` hands out. */
export function sealedRecordBytes(segmentSize: number): number {
  return RECORD_WORD_BYTES + segmentSize + TAG_BYTES;
}

/** The part of a ChunkPool the encrypt stage uses. */
export interface RecordPool {
  readonly chunkBytes: number;
  acquire(): Uint8Array;
}

/** What can decrypt: the keyring (v1), private keys of recipients (v2), or both. */
export interface DecryptKeys {
  keyring?: Keyring;
  privateKeys?: RecipientPrivateKey[];
}

/**
 * Plaintext in any chunking → header, then length-prefixed records. A full segment is sealed only
 * when more input arrives (only then is it known not to be final). One segment's encryption runs
 * while the next one fills (Node runs WebCrypto off the JS thread: +20-35% measured with two cores,
 * no change on one), so the stream holds at most two segment buffers whatever the input size.
 */
export function createEncryptStream(keys: Keyring | RecipientPublicKey, opts: EncryptOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const segmentSize = opts.segmentSize ?? DEFAULT_SEGMENT_BYTES;
  checkSegmentOption(segmentSize);
  const records = opts.records;
  if (records && records.chunkBytes !== sealedRecordBytes(segmentSize)) fail("CONFIG_INVALID", `the record pool's buffers are ${records.chunkBytes} bytes, not ${sealedRecordBytes(segmentSize)}`);
  // Recipient mode: a fresh data key per artifact plays the master key's part, and travels wrapped.
  const recipient = "kind" in keys && keys.kind === "recipient" ? keys : undefined;
  const master: MasterKey = recipient ? { id: recipient.id, bytes: opts.testOnly?.dataKey ?? crypto.getRandomValues(new Uint8Array(32)) } : (keys as Keyring).active;
  const salt = opts.testOnly?.salt ?? crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const prefix = opts.testOnly?.noncePrefix ?? crypto.getRandomValues(new Uint8Array(NONCE_PREFIX_BYTES));
  if (salt.length !== SALT_BYTES || prefix.length !== NONCE_PREFIX_BYTES) fail("CONFIG_INVALID", "test salt or nonce prefix has the wrong length");
  let aes: CryptoKey;
  let header: Uint8Array<ArrayBuffer>;
  // Two buffers: the one being encrypted is never written until its encryption has resolved.
  const buffers = [new Uint8Array(segmentSize)];
  let current = 0;
  let filled = 0;
  let index = 0;
  let pending: { word: Uint8Array; ciphertext: Promise<ArrayBuffer> } | undefined;

  const emitPending = async (controller: TransformStreamDefaultController<Uint8Array>) => {
    if (!pending) return;
    const { word, ciphertext } = pending;
    pending = undefined;
    const sealed = await ciphertext;
    if (!records) {
      controller.enqueue(word);
      controller.enqueue(new Uint8Array(sealed));
      return;
    }
    const out = records.acquire();
    const n = word.length + sealed.byteLength;
    out.set(word);
    out.set(new Uint8Array(sealed), word.length);
    // WebCrypto's result is ours alone: detaching it frees it now instead of at a collection,
    // which with few collections is what let dead ciphertext pile up (docs/PERFORMANCE.md).
    sealed.transfer(0);
    controller.enqueue(n === out.length ? out : out.subarray(0, n));
  };

  const seal = async (controller: TransformStreamDefaultController<Uint8Array>, final: boolean) => {
    if (index >= MAX_SEGMENTS) fail("CONFIG_INVALID", `the input needs more than ${MAX_SEGMENTS} segments of ${segmentSize} bytes: use a larger segment size`);
    const plaintext = buffers[current].subarray(0, filled);
    const ciphertext = started(crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce(prefix, index, final), additionalData: header }, aes, bs(plaintext)));
    const next = { word: recordWord(filled, final), ciphertext };
    await emitPending(controller);
    pending = next;
    index++;
    filled = 0;
    current ^= 1;
    buffers[current] ??= new Uint8Array(segmentSize);
  };

  return new TransformStream({
    async start(controller) {
      const derived = await deriveKeys(master, salt);
      aes = derived.aes;
      if (recipient) {
        const fixed = buildHeader(master.id, salt, prefix, segmentSize, derived.check, FORMAT_VERSION_RECIPIENT);
        const wrap = await wrapDataKey(recipient, master.bytes, fixed, opts.testOnly?.ephemeralPrivate);
        header = new Uint8Array(fixed.length + wrap.length);
        header.set(fixed);
        header.set(wrap, fixed.length);
      } else header = buildHeader(master.id, salt, prefix, segmentSize, derived.check);
      controller.enqueue(header.slice());
    },
    async transform(chunk, controller) {
      let o = 0;
      while (o < chunk.length) {
        if (filled === segmentSize) await seal(controller, false);
        const n = Math.min(segmentSize - filled, chunk.length - o);
        buffers[current].set(chunk.subarray(o, o + n), filled);
        filled += n;
        o += n;
      }
    },
    async flush(controller) {
      await seal(controller, true);
      await emitPending(controller);
    },
  });
}

/** The key an artifact's segments derive from: a keyring entry (v1), or the data key unwrapped with a private key (v2). */
async function masterFor(header: HeaderInfo, keys: DecryptKeys, headerBytes: Uint8Array): Promise<MasterKey> {
  if (header.version === FORMAT_VERSION_RECIPIENT) {
    const priv = keys.privateKeys?.find((k) => k.id === header.keyId);
    if (!priv) {
      const have = keys.privateKeys?.length ? `the private keys given are: ${keys.privateKeys.map((k) => k.id).join(", ")}` : "no private key was given (a keyring cannot open it)";
      fail("KEY_UNKNOWN_ID", `the artifact is sealed to recipient '${header.keyId}' (public-key mode) and needs its private key; ${have}`);
    }
    const fixedLength = header.headerLength - WRAP_BLOCK_BYTES;
    return { id: header.keyId, bytes: await unwrapDataKey(priv, header.wrapBlock!, headerBytes.subarray(0, fixedLength)) };
  }
  const master = keys.keyring?.get(header.keyId);
  if (!master) {
    const have = keys.keyring ? `the keyring has: ${keys.keyring.ids.join(", ")}` : "no keyring was given (a private key opens only public-key-mode artifacts)";
    fail("KEY_UNKNOWN_ID", `the artifact was encrypted with key id '${header.keyId}' but ${have}`);
  }
  return master;
}

/**
 * Encrypted bytes in any chunking → plaintext, each segment released only after its tag verified.
 * Like encryption, one record's decryption overlaps with reading the next; errors are still
 * reported in stream order (an earlier segment's authentication failure wins over later damage).
 */
export function createDecryptStream(keysOrKeyring: Keyring | DecryptKeys): TransformStream<Uint8Array, Uint8Array> {
  const keys: DecryptKeys = "active" in keysOrKeyring ? { keyring: keysOrKeyring } : keysOrKeyring;
  const queue = new ByteRanges();
  let header: HeaderInfo | undefined;
  let headerBytes: Uint8Array<ArrayBuffer>;
  let aes: CryptoKey;
  let index = 0;
  let done = false;
  let pending: { index: number; plaintext: Promise<ArrayBuffer> } | undefined;

  const emitPending = async (controller: TransformStreamDefaultController<Uint8Array>) => {
    if (!pending) return;
    const { index: i, plaintext } = pending;
    pending = undefined;
    let pt: ArrayBuffer;
    try {
      pt = await plaintext;
    } catch {
      fail("FORMAT_AUTH_FAILED", `segment ${i} failed authentication: the artifact was modified, reordered or damaged`);
    }
    if (pt.byteLength > 0) controller.enqueue(new Uint8Array(pt));
  };

  const failInOrder = async (controller: TransformStreamDefaultController<Uint8Array>, code: ErrorCode, message: string): Promise<never> => {
    await emitPending(controller);
    fail(code, message);
  };

  const parseHeader = async (): Promise<boolean> => {
    const need = queue.length < HEADER_PREFIX_BYTES ? queue.length : headerLength(queue.peek(HEADER_PREFIX_BYTES)[HEADER_PREFIX_BYTES - 1], queue.peek(HEADER_PREFIX_BYTES)[FORMAT_MAGIC.length]);
    try {
      header = readHeader(queue.peek(Math.min(queue.length, need)));
    } catch (e) {
      if (e instanceof PgsealError && e.code === "FORMAT_TRUNCATED") return false; // wait for more bytes
      throw e;
    }
    const master = await masterFor(header, keys, queue.peek(header.headerLength));
    const derived = await deriveKeys(master, header.salt);
    if (!equalBytes(derived.check, header.keyCheck)) {
      fail("KEY_MISMATCH", `the keyring's key '${header.keyId}' is not the key this artifact was encrypted with (or the artifact's header is damaged)`);
    }
    aes = derived.aes;
    headerBytes = queue.take(header.headerLength).slice();
    return true;
  };

  const openRecords = async (controller: TransformStreamDefaultController<Uint8Array>) => {
    const segmentSize = header!.segmentSize;
    while (!done && queue.length >= RECORD_WORD_BYTES) {
      const wordBytes = queue.peek(RECORD_WORD_BYTES);
      const word = new DataView(wordBytes.buffer, wordBytes.byteOffset, RECORD_WORD_BYTES).getUint32(0);
      const final = word >= FINAL_BIT;
      const length = word & ~FINAL_BIT;
      if (final ? length > segmentSize : length !== segmentSize) {
        const kind = final ? "final segment" : "segment";
        await failInOrder(controller, "FORMAT_BAD_HEADER", `${kind} ${index} declares ${length} bytes, but the header's segment size is ${segmentSize}`);
      }
      if (index >= MAX_SEGMENTS) await failInOrder(controller, "FORMAT_BAD_HEADER", `the artifact has more than ${MAX_SEGMENTS} segments`);
      if (queue.length < RECORD_WORD_BYTES + length + TAG_BYTES) return;
      queue.take(RECORD_WORD_BYTES);
      const ciphertext = queue.take(length + TAG_BYTES);
      const plaintext = started(crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce(header!.noncePrefix, index, final), additionalData: headerBytes }, aes, bs(ciphertext)));
      const next = { index, plaintext };
      await emitPending(controller);
      pending = next;
      index++;
      if (final) {
        await emitPending(controller);
        done = true;
      }
    }
    if (done && queue.length > 0) fail("FORMAT_TRAILING_DATA", `${queue.length} unexpected bytes follow the final segment`);
  };

  return new TransformStream({
    async transform(chunk, controller) {
      if (chunk.length === 0) return;
      if (done) fail("FORMAT_TRAILING_DATA", `${chunk.length} unexpected bytes follow the final segment`);
      queue.push(chunk);
      if (!header && !(await parseHeader())) return;
      await openRecords(controller);
    },
    async flush(controller) {
      if (!header) fail("FORMAT_TRUNCATED", "the artifact ends inside its header");
      if (!done) await failInOrder(controller, "FORMAT_TRUNCATED", `the artifact ends after ${index} segments without a final segment: it is truncated`);
    },
  });
}
