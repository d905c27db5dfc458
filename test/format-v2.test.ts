// Format v2 (recipient / public-key mode): round trips, a golden vector checked by a second decoder written from docs/FORMAT.md, and every refusal.
import { createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { concatBytes, fromHex, toHex } from "../src/shared/bytes.ts";
import { createDecryptStream, createEncryptStream, readHeader } from "../src/shared/format/format.ts";
import { generateKey, parseKeyring } from "../src/shared/format/keyring.ts";
import { generateRecipient, parsePrivateKey, parseRecipient } from "../src/shared/format/recipient.ts";

const VECTOR = JSON.parse(readFileSync(new URL("./vectors/format-v2.json", import.meta.url), "utf8")) as {
  recipientPrivate: string;
  recipientPublic: string;
  segmentSize: number;
  salt: string;
  noncePrefix: string;
  dataKey: string;
  ephemeralPrivate: string;
  plaintext: string;
  ciphertext: string;
};

async function through(stream: TransformStream<Uint8Array, Uint8Array>, input: Uint8Array, chunk = 7): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  const reading = (async () => {
    for await (const c of stream.readable) out.push(c);
  })();
  reading.catch(() => {}); // the same error reaches the writer; reported once, below
  const w = stream.writable.getWriter();
  try {
    for (let i = 0; i < input.length; i += chunk) await w.write(input.slice(i, i + chunk));
    await w.close();
  } catch (e) {
    await reading.catch(() => {});
    throw e;
  }
  await reading;
  return concatBytes(out);
}

async function pair() {
  const { publicEntry, privateEntry } = await generateRecipient("ops-2026");
  return { pub: parseRecipient(publicEntry), priv: await parsePrivateKey(privateEntry) };
}

/** A second decoder, from docs/FORMAT.md alone, with node:crypto: X25519 → HKDF → AES-GCM unwrap, then v1's segment scheme. */
function referenceDecrypt(ct: Uint8Array, recipientPrivateRaw: Uint8Array): Uint8Array {
  const idLen = ct[7];
  const fixedLen = 6 + 2 + idLen + 32 + 7 + 4 + 32;
  const header = ct.subarray(0, fixedLen + 80);
  const salt = ct.subarray(8 + idLen, 8 + idLen + 32);
  const prefix = ct.subarray(8 + idLen + 32, 8 + idLen + 39);
  const segmentSize = new DataView(ct.buffer, ct.byteOffset + 8 + idLen + 39, 4).getUint32(0);
  const eph = header.subarray(fixedLen, fixedLen + 32);
  const wrapped = header.subarray(fixedLen + 32);
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), Buffer.from(recipientPrivateRaw)]);
  const priv = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  const recipientPublic = createPublicKey(priv).export({ format: "der", type: "spki" }).subarray(-32);
  const ephKey = createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b656e032100", "hex"), Buffer.from(eph)]), format: "der", type: "spki" });
  const shared = diffieHellman({ privateKey: priv, publicKey: ephKey });
  const wrapKey = Buffer.from(hkdfSync("sha256", shared, Buffer.concat([eph, recipientPublic]), "pgseal v2 x25519 wrap", 32));
  const unwrap = createDecipheriv("aes-256-gcm", wrapKey, Buffer.alloc(12));
  unwrap.setAAD(header.subarray(0, fixedLen));
  unwrap.setAuthTag(wrapped.subarray(32));
  const dataKey = Buffer.concat([unwrap.update(wrapped.subarray(0, 32)), unwrap.final()]);
  const aesKey = Buffer.from(hkdfSync("sha256", dataKey, salt, "pgseal v1 aes-256-gcm", 32));
  const out: Buffer[] = [];
  let o = header.length;
  for (let index = 0; ; index++) {
    const word = new DataView(ct.buffer, ct.byteOffset + o, 4).getUint32(0);
    const final = word >= 0x8000_0000;
    const len = word & 0x7fff_ffff;
    expect(final || len === segmentSize).toBe(true);
    const nonce = Buffer.alloc(12);
    Buffer.from(prefix).copy(nonce, 0);
    nonce.writeUInt32BE(index, 7);
    nonce[11] = final ? 1 : 0;
    const d = createDecipheriv("aes-256-gcm", aesKey, nonce);
    d.setAAD(header);
    d.setAuthTag(ct.subarray(o + 4 + len, o + 4 + len + 16));
    out.push(d.update(ct.subarray(o + 4, o + 4 + len)), d.final());
    o += 4 + len + 16;
    if (final) break;
  }
  expect(o).toBe(ct.length);
  return new Uint8Array(Buffer.concat(out));
}

describe("format v2: sealed to a recipient's public key", () => {
  it("round-trips empty, one-byte, segment-boundary and multi-segment inputs with the private key", async () => {
    const { pub, priv } = await pair();
    for (const n of [0, 1, 63, 64, 65, 64 * 3, 1000]) {
      const pt = crypto.getRandomValues(new Uint8Array(n));
      const ct = await through(createEncryptStream(pub, { segmentSize: 64 }), pt);
      expect(readHeader(ct)).toMatchObject({ version: 2, keyId: "ops-2026" });
      expect(toHex(await through(createDecryptStream({ privateKeys: [priv] }), ct, 13)), `${n} bytes`).toBe(toHex(pt));
    }
  });

  it("cannot be opened with the deployment's keyring, nor with another key pair under the same id", async () => {
    const { pub } = await pair();
    const other = await pair();
    const ct = await through(createEncryptStream(pub, { segmentSize: 64 }), new TextEncoder().encode("select 1"));
    await expect(through(createDecryptStream(parseKeyring(generateKey("ops-2026").entry)), ct)).rejects.toMatchObject({
      code: "KEY_UNKNOWN_ID",
      message: expect.stringMatching(/sealed to recipient 'ops-2026' \(public-key mode\) and needs its private key/),
    });
    await expect(through(createDecryptStream({ privateKeys: [other.priv] }), ct)).rejects.toMatchObject({ code: "FORMAT_AUTH_FAILED" });
  });

  it("fails authentication when the ephemeral key, the wrapped key or any header byte is changed", async () => {
    const { pub, priv } = await pair();
    const ct = await through(createEncryptStream(pub, { segmentSize: 64 }), new Uint8Array(200));
    const h = readHeader(ct);
    for (const at of [8, 8 + h.keyId.length + 5, h.headerLength - 80 + 3, h.headerLength - 40, h.headerLength - 1]) {
      const bad = ct.slice();
      bad[at] ^= 0x01;
      await expect(through(createDecryptStream({ privateKeys: [priv] }), bad), `byte ${at}`).rejects.toMatchObject({
        code: expect.stringMatching(/^(FORMAT_AUTH_FAILED|KEY_MISMATCH|FORMAT_BAD_HEADER|KEY_UNKNOWN_ID)$/),
      });
    }
  });

  it("reproduces the golden vector byte for byte, and a decoder written from FORMAT.md with node:crypto opens it", async () => {
    const pub = parseRecipient(VECTOR.recipientPublic);
    const ct = await through(
      createEncryptStream(pub, {
        segmentSize: VECTOR.segmentSize,
        testOnly: { salt: fromHex(VECTOR.salt), noncePrefix: fromHex(VECTOR.noncePrefix), dataKey: fromHex(VECTOR.dataKey), ephemeralPrivate: fromHex(VECTOR.ephemeralPrivate) },
      }),
      fromHex(VECTOR.plaintext),
    );
    expect(toHex(ct)).toBe(VECTOR.ciphertext);
    const priv = await parsePrivateKey(VECTOR.recipientPrivate);
    expect(toHex(await through(createDecryptStream({ privateKeys: [priv] }), ct))).toBe(VECTOR.plaintext);
    const raw = Buffer.from(VECTOR.recipientPrivate.split(":")[2], "base64");
    expect(toHex(referenceDecrypt(fromHex(VECTOR.ciphertext), raw))).toBe(VECTOR.plaintext);
  });
});
