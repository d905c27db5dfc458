// The manifest-to-artifact binding (docs/FORMAT.md "Binding"): committed vectors, and a stand-in refused before any byte passes.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { nodeHashing } from "../container/src/node-hash.ts";
import { fromHex } from "../src/shared/bytes.ts";
import { headerDigestTap, verifyStage } from "../src/shared/pipeline/verify-stage.ts";

interface BindingVector {
  file: string;
  name: string;
  headerLength: number;
  headerSha256: string;
  artifactSha256: string;
}

const VECTORS: BindingVector[] = JSON.parse(readFileSync(new URL("./vectors/binding.json", import.meta.url), "utf8")).vectors;

function ciphertextOf(v: BindingVector): Uint8Array {
  const d = JSON.parse(readFileSync(new URL(`./vectors/${v.file}`, import.meta.url), "utf8"));
  const hex = d.vectors ? d.vectors.find((x: { name: string }) => x.name === v.name).ciphertext : d.ciphertext;
  return fromHex(hex);
}

function streamOf(bytes: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, (at += chunk)));
    },
  });
}

async function collect(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

describe.each(VECTORS)("binding vector $file $name", (v) => {
  it.each([1, 7, 64, 100_000])("digests the header to the committed headerSha256 when read in chunks of %i bytes", async (chunk) => {
    const bytes = ciphertextOf(v);
    const tap = headerDigestTap(nodeHashing);
    expect(await collect(streamOf(bytes, chunk).pipeThrough(tap.stage))).toEqual(bytes);
    expect(await tap.headerSha256()).toBe(v.headerSha256);
  });

  it("passes every byte when header, size and sha256 match, and none when the header is another artifact's", async () => {
    const bytes = ciphertextOf(v);
    const expected = { bytes: bytes.length, sha256: v.artifactSha256, headerSha256: v.headerSha256 };
    expect(await collect(streamOf(bytes, 5).pipeThrough(verifyStage(nodeHashing, expected, "vector")))).toEqual(bytes);
    const other = VECTORS.find((o) => o.headerSha256 !== v.headerSha256)!;
    let passed = 0;
    const run = streamOf(bytes, 5)
      .pipeThrough(verifyStage(nodeHashing, { ...expected, headerSha256: other.headerSha256 }, "vector"))
      .pipeTo(new WritableStream({ write: (c) => void (passed += c.length) }));
    await expect(run).rejects.toMatchObject({ code: "ARTIFACT_MISMATCH" });
    expect(passed).toBe(0);
  });

  it("withholds the last bytes until the sha256 has matched", async () => {
    const bytes = ciphertextOf(v);
    let passed = 0;
    const run = streamOf(bytes, 16)
      .pipeThrough(verifyStage(nodeHashing, { bytes: bytes.length, sha256: "0".repeat(64), headerSha256: v.headerSha256 }, "vector"))
      .pipeTo(new WritableStream({ write: (c) => void (passed += c.length) }));
    await expect(run).rejects.toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(passed).toBeLessThan(bytes.length);
  });
});
