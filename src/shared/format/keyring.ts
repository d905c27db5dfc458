// The encryption keyring: named 32-byte master keys; the last entry encrypts, every entry decrypts.
import { fromBase64, toBase64, toHex } from "../bytes.ts";
import { PgsealError } from "../errors.ts";

export const MASTER_KEY_BYTES = 32;
const KEY_ID_RE = /^[A-Za-z0-9._-]{1,32}$/;
const INSPECT = Symbol.for("nodejs.util.inspect.custom");

export interface MasterKey {
  id: string;
  bytes: Uint8Array;
}

export interface Keyring {
  /** The newest key: it encrypts new artifacts. */
  active: MasterKey;
  /** Every key id, in keyring order (the last one is `active.id`). */
  ids: string[];
  get(id: string): MasterKey | undefined;
}

/** Gives an object holding key bytes a JSON and console form without them (non-enumerable). */
function withoutBytesInLogs<T extends object>(target: T, shown: () => unknown, label: string): T {
  Object.defineProperty(target, "toJSON", { value: shown, enumerable: false });
  Object.defineProperty(target, INSPECT, { value: () => `${label} ${JSON.stringify(shown())}`, enumerable: false });
  return target;
}

/**
 * Parses `<id>:<base64 of 32 bytes>` entries separated by commas and/or whitespace. Errors name the
 * entry by position (and id when it is a valid one) and never quote the entry itself: it holds a key.
 */
export function parseKeyring(secret: string): Keyring {
  const entries = secret.split(/[\s,]+/).filter((e) => e !== "");
  if (entries.length === 0) {
    throw new PgsealError("KEY_INVALID", "the keyring is empty: expected entries like '<id>:<base64 of 32 bytes>' (create one with 'pgseal keygen')");
  }
  const keys = new Map<string, { key: MasterKey; position: number }>();
  entries.forEach((entry, i) => {
    const where = `keyring entry ${i + 1}`;
    const colon = entry.indexOf(":");
    const id = colon > 0 ? entry.slice(0, colon) : "";
    if (!KEY_ID_RE.test(id)) {
      throw new PgsealError("KEY_INVALID", `${where} has no valid key id: expected '<id>:<base64 key>' with an id of 1-32 letters, digits, '.', '_' or '-'`);
    }
    const seen = keys.get(id);
    if (seen) throw new PgsealError("KEY_INVALID", `${where} repeats key id '${id}' of entry ${seen.position}: ids must be unique`);
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(entry.slice(colon + 1));
    } catch {
      throw new PgsealError("KEY_INVALID", `${where} (id '${id}') is not valid base64 or base64url`);
    }
    if (bytes.length !== MASTER_KEY_BYTES) {
      throw new PgsealError("KEY_INVALID", `${where} (id '${id}') decodes to ${bytes.length} bytes; keys are exactly ${MASTER_KEY_BYTES} bytes`);
    }
    const key = withoutBytesInLogs({ id, bytes }, () => ({ id }), "MasterKey");
    keys.set(id, { key, position: i + 1 });
  });
  const ids = [...keys.keys()];
  const ring: Keyring = { active: keys.get(ids[ids.length - 1])!.key, ids, get: (id) => keys.get(id)?.key };
  return withoutBytesInLogs(ring, () => ({ ids }), "Keyring");
}

/** A new random key as a keyring entry; the default id sorts by creation day: k20250131a1b2. */
export function generateKey(id?: string): { id: string; entry: string } {
  const bytes = crypto.getRandomValues(new Uint8Array(MASTER_KEY_BYTES));
  const keyId = id ?? `k${new Date().toISOString().slice(0, 10).replace(/-/g, "")}${toHex(crypto.getRandomValues(new Uint8Array(2)))}`;
  if (!KEY_ID_RE.test(keyId)) throw new PgsealError("USAGE", `key id '${keyId}' must be 1-32 letters, digits, '.', '_' or '-'`);
  return { id: keyId, entry: `${keyId}:${toBase64(bytes)}` };
}
