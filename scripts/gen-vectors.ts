// Writes test/vectors/format-v1.json once. Golden vectors are never regenerated silently: a format
// change is a new version with new vectors; --force exists for that deliberate act only.
import { existsSync, writeFileSync } from "node:fs";
import { toHex } from "../src/shared/bytes.ts";
import { createEncryptStream } from "../src/shared/format.ts";
import { parseKeyring } from "../src/shared/keyring.ts";
import { VECTOR_CASES, VECTOR_KEY, VECTOR_KEY_ID, VECTOR_NONCE_PREFIX, VECTOR_SALT, VECTOR_SEGMENT_BYTES, VECTOR_KEYRING, vectorPlaintext } from "../test/vectors/vector-inputs.ts";

const path = new URL("../test/vectors/format-v1.json", import.meta.url);
if (existsSync(path) && !process.argv.includes("--force")) {
  console.error(`${path.pathname} exists; golden vectors are not regenerated. Use --force only for a new format version.`);
  process.exit(1);
}
const keyring = parseKeyring(VECTOR_KEYRING);
const vectors = [];
for (const c of VECTOR_CASES) {
  const plaintext = vectorPlaintext(c.plaintextBytes);
  const enc = createEncryptStream(keyring, { segmentSize: VECTOR_SEGMENT_BYTES, testOnly: { salt: VECTOR_SALT, noncePrefix: VECTOR_NONCE_PREFIX } });
  const out = new Uint8Array(await new Response(new Blob([plaintext as Uint8Array<ArrayBuffer>]).stream().pipeThrough(enc)).arrayBuffer());
  vectors.push({ name: c.name, plaintext: toHex(plaintext), ciphertext: toHex(out) });
}
writeFileSync(
  path,
  JSON.stringify(
    { format: "pgseal-v1", keyId: VECTOR_KEY_ID, key: toHex(VECTOR_KEY), salt: toHex(VECTOR_SALT), noncePrefix: toHex(VECTOR_NONCE_PREFIX), segmentSize: VECTOR_SEGMENT_BYTES, vectors },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${vectors.length} vectors to ${path.pathname}`);
