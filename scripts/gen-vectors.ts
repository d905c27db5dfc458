// Writes the golden vectors test/vectors/format-v1.json once; never silently regenerated.
// A format change is a new version with new vectors; --force exists for that deliberate act only.
// --out <path> writes elsewhere (the tests use it to prove the committed file is reproducible).
import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { toHex } from "../src/shared/bytes.ts";
import { createEncryptStream } from "../src/shared/format/format.ts";
import { parseKeyring } from "../src/shared/format/keyring.ts";
import { VECTOR_CASES, VECTOR_KEY, VECTOR_KEY_ID, VECTOR_KEYRING, VECTOR_NONCE_PREFIX, VECTOR_SALT, VECTOR_SEGMENT_BYTES, vectorPlaintext } from "../test/vectors/vector-inputs.ts";

const WARNING = "Golden vectors are never regenerated silently: committed vectors pin format v1 byte for byte. A format change is a new version with a new vectors file.";

const args = process.argv.slice(2);
const outAt = args.indexOf("--out");
const path = outAt >= 0 && args[outAt + 1] ? resolve(args[outAt + 1]) : fileURLToPath(new URL("../test/vectors/format-v1.json", import.meta.url));
const force = args.includes("--force");
if (existsSync(path) && !force) {
  console.error(`${path} exists and was left as it is.\n${WARNING}\nUse --force only when deliberately creating vectors for a new format version.`);
  process.exit(1);
}
if (force) console.error(`WARNING: --force overwrites ${path}.\n${WARNING}`);

const keyring = parseKeyring(VECTOR_KEYRING);
const vectors = [];
for (const c of VECTOR_CASES) {
  const plaintext = vectorPlaintext(c.plaintextBytes);
  const enc = createEncryptStream(keyring, { segmentSize: VECTOR_SEGMENT_BYTES, testOnly: { salt: VECTOR_SALT, noncePrefix: VECTOR_NONCE_PREFIX } });
  const out = new Uint8Array(await new Response(new Blob([plaintext as Uint8Array<ArrayBuffer>]).stream().pipeThrough(enc)).arrayBuffer());
  vectors.push({ name: c.name, plaintext: toHex(plaintext), ciphertext: toHex(out) });
}
const file = { format: "pgseal-v1", keyId: VECTOR_KEY_ID, key: toHex(VECTOR_KEY), salt: toHex(VECTOR_SALT), noncePrefix: toHex(VECTOR_NONCE_PREFIX), segmentSize: VECTOR_SEGMENT_BYTES, vectors };
writeFileSync(path, JSON.stringify(file, null, 2) + "\n");
console.log(`wrote ${vectors.length} vectors to ${path}`);
