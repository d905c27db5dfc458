// The encryption keyring: named 32-byte master keys; the last entry encrypts, every entry decrypts.
import { fromBase64, toBase64, toHex } from "./bytes.ts";
import { PgsealError } from "./errors.ts";

export const MASTER_KEY_BYTES = 32;
const KEY_ID_RE = /^[A-Za-z0-9._-]{1,32}$/;

export interface MasterKey {
  id: string;
  bytes: Uint8Array;
}

export interface Keyring {
  /** The newest key: it encrypts new artifacts. */
  active: MasterKey;
  ids: string[];
  get(id: string): MasterKey | undefined;
}

export function parseKeyring(secret: string): Keyring {
  const entries = secret.split(/[\s,]+/).filter((e) => e !== "");
  if (entries.length === 0) {
    throw new PgsealError("KEY_INVALID", "the keyring is empty: expected entries like '<id>:<base64 of 32 bytes>' (create one with 'pgseal keygen')");
  }
  const keys = new Map<string, MasterKey>();
  entries.forEach((entry, i) => {
    const where = `keyring entry ${i + 1}`;
    const colon = entry.indexOf(":");
    const id = colon > 0 ? entry.slice(0, colon) : "";
    if (!KEY_ID_RE.test(id)) {
      throw new PgsealError("KEY_INVALID", `${where} has no valid key id: expected '<id>:<base64 key>' with an id of 1-32 letters, digits, '.', '_' or '-'`);
    }
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(entry.slice(colon + 1));
    } catch {
      throw new PgsealError("KEY_INVALID", `${where} (id '${id}') is not valid base64`);
    }
    if (bytes.length !== MASTER_KEY_BYTES) {
      throw new PgsealError("KEY_INVALID", `${where} (id '${id}') is ${bytes.length} bytes, keys are ${MASTER_KEY_BYTES} bytes`);
    }
    if (keys.has(id)) throw new PgsealError("KEY_INVALID", `${where} repeats key id '${id}': ids must be unique`);
    keys.set(id, { id, bytes });
  });
  const ids = [...keys.keys()];
  const active = keys.get(ids[ids.length - 1])!;
  return {
    active,
    ids,
    get: (id) => keys.get(id),
    // Never let key bytes reach a log line through JSON.stringify or util.inspect.
    toJSON: () => ({ ids }),
    [Symbol.for("nodejs.util.inspect.custom")]: () => `Keyring { ids: ${ids.join(", ")} }`,
  } as Keyring;
}

export function generateKey(id?: string): { id: string; entry: string } {
  const bytes = crypto.getRandomValues(new Uint8Array(MASTER_KEY_BYTES));
  const keyId = id ?? `k${new Date().toISOString().slice(0, 10).replace(/-/g, "")}${toHex(crypto.getRandomValues(new Uint8Array(2)))}`;
  if (!KEY_ID_RE.test(keyId)) throw new PgsealError("USAGE", `key id '${keyId}' must be 1-32 letters, digits, '.', '_' or '-'`);
  return { id: keyId, entry: `${keyId}:${toBase64(bytes)}` };
}
