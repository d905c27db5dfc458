// Small JSON values encrypted with the artifact format (docs/FORMAT.md): the manifest's schema-bearing sections.
import { concatBytes, fromBase64, toBase64 } from "../bytes.ts";
import { PgsealError } from "../errors.ts";
import { createDecryptStream, createEncryptStream } from "./format.ts";
import type { DecryptKeys } from "./format.ts";
import type { Keyring } from "./keyring.ts";
import type { RecipientPublicKey } from "./recipient.ts";

async function run(stream: TransformStream<Uint8Array, Uint8Array>, input: Uint8Array): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  const done = (async () => {
    for await (const c of stream.readable) out.push(c);
  })();
  const w = stream.writable.getWriter();
  // Both sides fail together (a wrong key errors the stream): Promise.all observes both, so neither is left unhandled.
  await Promise.all([(async () => (await w.write(input), await w.close()))(), done]);
  return concatBytes(out);
}

/** base64 of a pgseal ciphertext (v1 under a keyring, v2 to a recipient) of the JSON text; table names and counts never reach the bucket in clear. */
export async function sealJson(keys: Keyring | RecipientPublicKey, value: unknown): Promise<string> {
  return toBase64(await run(createEncryptStream(keys), new TextEncoder().encode(JSON.stringify(value))));
}

export async function openJson<T>(keys: Keyring | DecryptKeys, sealed: string, what: string): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(sealed);
  } catch {
    throw new PgsealError("MANIFEST_INVALID", `${what} is not base64`);
  }
  const plain = await run(createDecryptStream(keys), bytes);
  try {
    return JSON.parse(new TextDecoder().decode(plain)) as T;
  } catch {
    throw new PgsealError("MANIFEST_INVALID", `${what} decrypted but is not JSON`);
  }
}
