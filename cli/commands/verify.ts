// `pgseal verify`: integrity of a stored artifact (in the bucket, or a downloaded file) without restoring it (size, sha256, and with the key: every segment).
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { checkStoredArtifact, openDump } from "../../container/src/restore.ts";
import { decompressStage } from "../../container/src/stages/compress.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import { createDecryptStream } from "../../src/shared/format/format.ts";
import { runPipeline, stage } from "../../src/shared/pipeline/pipeline.ts";
import type { Command, CommandContext } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, DECRYPT_ENV, decryptKeysFrom } from "../options.ts";
import { formatBytes } from "../progress.ts";
import { backupSource, isBare, type BareArtifact } from "../source.ts";

const PGDMP = "PGDMP";

/** A downloaded artifact with no manifest: what the key and the format alone can prove, and a plain list of what they cannot. */
async function verifyBare(a: BareArtifact, { flags, out }: CommandContext): Promise<void> {
  if (flags["without-key"]) {
    throw new PgsealError("USAGE", `nothing to check without the key or a manifest: ${a.expectedManifest} is missing (download it next to ${a.path}), or pass the key`);
  }
  const started = performance.now();
  let plain = 0;
  let head = "";
  await runPipeline({
    source: { name: "file", readable: Readable.toWeb(createReadStream(a.path)) as ReadableStream<Uint8Array> },
    stages: [stage("decrypt", createDecryptStream(await decryptKeysFrom(flags))), stage("decompress", decompressStage(a.compression))],
    sink: {
      name: "discard",
      writable: new WritableStream({
        write(chunk) {
          if (head.length < PGDMP.length) head += Buffer.from(chunk.subarray(0, PGDMP.length - head.length)).toString("latin1");
          plain += chunk.length;
        },
      }),
    },
  });
  if (!head.startsWith(PGDMP)) throw new PgsealError("ARTIFACT_CORRUPT", `${a.path} decrypted, but is not a pg_dump custom-format archive`);
  const checks = "every encrypted segment authenticated, decompressed, pg_dump archive header";
  const notChecked = `size and sha256 against the manifest, and the dump's size, because there is no manifest (${a.expectedManifest})`;
  const seconds = (performance.now() - started) / 1000;
  if (flags.json) out(JSON.stringify({ file: a.path, ok: true, checks, notChecked, dumpBytes: plain, seconds }));
  else out(`ok: ${a.path}: ${checks} (${formatBytes(plain)} of dump) in ${seconds.toFixed(1)}s. NOT checked: ${notChecked}`);
}

export const verify: Command = {
  summary: "check a stored backup: header binding, size and sha256; with the key also decrypt and decompress it fully",
  usage: "pgseal verify [<key> | <local file> | --name <db>] [--without-key]",
  description: [
    "A local file is an artifact downloaded from the bucket (aws s3 cp), with its .manifest.json beside it or not,",
    "or that manifest. Without a manifest only the key can vouch for it; the output says what was not checked.",
  ],
  flagHelp: { name: "the newest complete backup of this database", "without-key": "check header binding, size and sha256 only (no key needed)" },
  env: [...BUCKET_ENV, ...DECRYPT_ENV],
  options: { ...BUCKET_FLAGS, name: { type: "string" }, "without-key": { type: "boolean" } },
  async run(ctx) {
    const { flags, positionals, out } = ctx;
    const source = await backupSource(flags, positionals[0]);
    if (isBare(source)) return verifyBare(source, ctx);
    const { manifest, reader } = source;
    const started = performance.now();
    let checks: string;
    // Each claim below is printed only after runPipeline resolved, i.e. after every check passed.
    // openDump and checkStoredArtifact read with `get` only: a local file serves as well as the bucket.
    if (flags["without-key"]) {
      await checkStoredArtifact(reader, manifest);
      checks = manifest.artifact.headerSha256 ? "header binding, size and sha256" : "size and sha256 (this manifest predates header binding)";
    } else {
      const chain = await openDump(reader, manifest, await decryptKeysFrom(flags));
      await runPipeline({ ...chain, sink: { name: "discard", writable: new WritableStream() } });
      checks = `${manifest.artifact.headerSha256 ? "header binding, " : ""}size, sha256, every encrypted segment, decompression and dump size`;
    }
    const seconds = (performance.now() - started) / 1000;
    const what = source.where === "the bucket" ? manifest.artifact.key : source.where;
    if (flags.json) out(JSON.stringify({ artifactKey: manifest.artifact.key, ...(source.where === "the bucket" ? {} : { file: source.where }), ok: true, checks, seconds }));
    else out(`ok: ${what} (${formatBytes(manifest.artifact.bytes)}): ${checks} verified in ${seconds.toFixed(1)}s`);
  },
};
