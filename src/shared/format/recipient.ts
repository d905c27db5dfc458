// Key custody: X25519 recipient keys, and wrapping an artifact's data key so that only the private key's holder can unwrap it.
import { fromBase64, fromBase64Url, toBase64, toBase64Url } from "../bytes.ts";
import { PgsealError } from "../errors.ts";

export const PUBLIC_PREFIX = "pgseal-public-v1";
export const PRIVATE_PREFIX = "pgseal-private-v1";
export const X25519_BYTES = 32;
export const WRAPPED_KEY_BYTES = 32 + 16;
/** Ephemeral public key ‖ wrapped data key: what a v2 header adds to v1's (docs/FORMAT.md). */
export const WRAP_BLOCK_BYTES = X25519_BYTES + WRAPPED_KEY_BYTES;
const INFO_WRAP = new TextEncoder().encode("pgseal v2 x25519 wrap");
const ID_RE = /^[A-Za-z0-9._-]{1,32}$/;

export interface RecipientPublicKey {
  kind: "recipient";
  id: string;
  /** Raw X25519 public key. */
  bytes: Uint8Array;
}

export interface RecipientPrivateKey {
  id: string;
  key: CryptoKey;
  publicBytes: Uint8Array;
}

const bs = (u: Uint8Array) => u as Uint8Array<ArrayBuffer>;
/** WebCrypto's ECDH-style parameters; the Workers types spell the field `$public`, the runtime (and Node) `public`. */
const x25519 = (peer: CryptoKey) => ({ name: "X25519", public: peer }) as unknown as Parameters<SubtleCrypto["deriveBits"]>[0];

function parseEntry(text: string, prefix: string, what: string): { id: string; bytes: Uint8Array } {
  const parts = text.trim().split(":");
  if (parts.length !== 3 || parts[0] !== prefix || !ID_RE.test(parts[1])) {
    throw new PgsealError("KEY_INVALID", `${what} must look like '${prefix}:<id>:<base64 of 32 bytes>' (create one with 'pgseal keygen --public')`);
  }
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(parts[2]);
  } catch {
    throw new PgsealError("KEY_INVALID", `${what} '${parts[1]}' is not valid base64`);
  }
  if (bytes.length !== X25519_BYTES) throw new PgsealError("KEY_INVALID", `${what} '${parts[1]}' decodes to ${bytes.length} bytes; X25519 keys are ${X25519_BYTES}`);
  return { id: parts[1], bytes };
}

export function parseRecipient(text: string): RecipientPublicKey {
  if (text.trim().startsWith(PRIVATE_PREFIX)) throw new PgsealError("KEY_INVALID", "this is a private key: the deployment gets the public half (pgseal-public-v1:…); keep the private half offline");
  const { id, bytes } = parseEntry(text, PUBLIC_PREFIX, "the recipient public key");
  return { kind: "recipient", id, bytes };
}

/** The private half is the raw X25519 scalar; WebCrypto takes it as a JWK together with its public key. */
export async function parsePrivateKey(text: string): Promise<RecipientPrivateKey> {
  const { id, bytes } = parseEntry(text, PRIVATE_PREFIX, "the private key");
  // Derive the public half from the scalar: import without x is not allowed, so compute it through a throwaway JWK round.
  const publicBytes = await publicFromPrivate(bytes);
  const key = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "X25519", d: toBase64Url(bytes), x: toBase64Url(publicBytes) }, { name: "X25519" }, false, ["deriveBits"]);
  return { id, key, publicBytes };
}

/** X25519(scalar, basepoint 9): the public key of a raw private scalar. */
async function publicFromPrivate(scalar: Uint8Array): Promise<Uint8Array> {
  const pkcs8 = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20, ...scalar]);
  const priv = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, ["deriveBits"]);
  const jwk = (await crypto.subtle.exportKey("jwk", priv)) as JsonWebKey;
  return fromBase64Url(jwk.x ?? "");
}

/** A new key pair as the two text entries `pgseal keygen --public` prints. */
export async function generateRecipient(id: string): Promise<{ publicEntry: string; privateEntry: string }> {
  if (!ID_RE.test(id)) throw new PgsealError("USAGE", "a key id is 1-32 letters, digits, '.', '_' or '-'");
  const pair = (await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"])) as CryptoKeyPair;
  const pub = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  const jwk = (await crypto.subtle.exportKey("jwk", pair.privateKey)) as JsonWebKey;
  const d = fromBase64Url(jwk.d ?? "");
  return { publicEntry: `${PUBLIC_PREFIX}:${id}:${toBase64(pub)}`, privateEntry: `${PRIVATE_PREFIX}:${id}:${toBase64(d)}` };
}

async function wrapKey(shared: Uint8Array, ephemeralPublic: Uint8Array, recipientPublic: Uint8Array, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  if (shared.every((b) => b === 0)) throw new PgsealError("KEY_INVALID", "the X25519 shared secret is all zeros (a small-order public key): refusing it");
  const ikm = await crypto.subtle.importKey("raw", bs(shared), "HKDF", false, ["deriveKey"]);
  const salt = new Uint8Array([...ephemeralPublic, ...recipientPublic]);
  return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt, info: INFO_WRAP }, ikm, { name: "AES-GCM", length: 256 }, false, [usage]);
}

/** The wrap key is used once (a fresh ephemeral key per artifact), so a zero nonce is safe. */
const ZERO_NONCE = new Uint8Array(12);

/**
 * Wraps a 32-byte data key to the recipient: ephemeral X25519, HKDF-SHA256 over the shared secret
 * (salt = ephemeral ‖ recipient public key), AES-256-GCM with `aad` (the v2 header's fixed part).
 */
export async function wrapDataKey(recipient: RecipientPublicKey, dataKey: Uint8Array, aad: Uint8Array, testOnlyEphemeral?: Uint8Array): Promise<Uint8Array> {
  let eph: CryptoKey;
  let ephPublic: Uint8Array;
  if (testOnlyEphemeral) {
    const k = await parsePrivateKey(`${PRIVATE_PREFIX}:${recipient.id}:${toBase64(testOnlyEphemeral)}`);
    eph = k.key;
    ephPublic = k.publicBytes;
  } else {
    const pair = (await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"])) as CryptoKeyPair;
    eph = pair.privateKey;
    ephPublic = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  }
  const peer = await crypto.subtle.importKey("raw", bs(recipient.bytes), { name: "X25519" }, false, []);
  const shared = new Uint8Array(await crypto.subtle.deriveBits(x25519(peer), eph, 256));
  const key = await wrapKey(shared, ephPublic, recipient.bytes, "encrypt");
  const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: ZERO_NONCE, additionalData: bs(aad) }, key, bs(dataKey)));
  return new Uint8Array([...ephPublic, ...wrapped]);
}

export async function unwrapDataKey(privateKey: RecipientPrivateKey, block: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const ephPublic = block.subarray(0, X25519_BYTES);
  const wrapped = block.subarray(X25519_BYTES);
  let peer: CryptoKey;
  try {
    peer = await crypto.subtle.importKey("raw", bs(ephPublic), { name: "X25519" }, false, []);
  } catch {
    throw new PgsealError("FORMAT_BAD_HEADER", "the header's ephemeral public key is not an X25519 key");
  }
  const shared = new Uint8Array(await crypto.subtle.deriveBits(x25519(peer), privateKey.key, 256));
  const key = await wrapKey(shared, ephPublic, privateKey.publicBytes, "decrypt");
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: ZERO_NONCE, additionalData: bs(aad) }, key, bs(wrapped)));
  } catch {
    throw new PgsealError("FORMAT_AUTH_FAILED", `the data key does not unwrap with private key '${privateKey.id}': a different key pair with the same id, or a damaged header`);
  }
}
