// Writes the golden vector test/vectors/format-v2.json (recipient mode) once; never silently regenerated (see gen-vectors.ts).
import { existsSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fromHex, toBase64, toHex } from "../src/shared/bytes.ts";
import { createEncryptStream } from "../src/shared/format/format.ts";
import { parsePrivateKey, PRIVATE_PREFIX, PUBLIC_PREFIX } from "../src/shared/format/recipient.ts";

const path = fileURLToPath(new URL("../test/vectors/format-v2.json", import.meta.url));
if (existsSync(path) && !process.argv.includes("--force")) {
  console.error(`${path} exists and was left as it is: golden vectors pin format v2 byte for byte.`);
  process.exit(1);
}
// Fixed, obviously non-secret inputs: byte patterns, so anyone can rebuild them by hand.
const pattern = (start: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (start + i * 7) & 0xff);
const recipientRaw = pattern(0x11, 32);
const priv = await parsePrivateKey(`${PRIVATE_PREFIX}:vector-r:${toBase64(recipientRaw)}`);
const v = {
  note: "pgseal format v2 golden vector (docs/FORMAT.md). Test-only keys: never use them.",
  recipientPrivate: `${PRIVATE_PREFIX}:vector-r:${toBase64(recipientRaw)}`,
  recipientPublic: `${PUBLIC_PREFIX}:vector-r:${toBase64(priv.publicBytes)}`,
  segmentSize: 64,
  salt: toHex(pattern(0x20, 32)),
  noncePrefix: toHex(pattern(0x40, 7)),
  dataKey: toHex(pattern(0x60, 32)),
  ephemeralPrivate: toHex(pattern(0x80, 32)),
  plaintext: toHex(pattern(0x00, 150)),
  ciphertext: "",
};
const { parseRecipient } = await import("../src/shared/format/recipient.ts");
const enc = createEncryptStream(parseRecipient(v.recipientPublic), {
  segmentSize: v.segmentSize,
  testOnly: { salt: fromHex(v.salt), noncePrefix: fromHex(v.noncePrefix), dataKey: fromHex(v.dataKey), ephemeralPrivate: fromHex(v.ephemeralPrivate) },
});
v.ciphertext = toHex(new Uint8Array(await new Response(new Blob([fromHex(v.plaintext) as Uint8Array<ArrayBuffer>]).stream().pipeThrough(enc)).arrayBuffer()));
writeFileSync(path, JSON.stringify(v, null, 2) + "\n");
console.log(`wrote ${path}`);
