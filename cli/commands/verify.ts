// `pgseal verify`: integrity of a stored artifact without restoring it (size, sha256, and with the key: every segment).
import { resolveBackup } from "../../src/shared/catalog.ts";
import { nodeHashing } from "../../container/src/node-hash.ts";
import { checkStoredArtifact, openDump } from "../../container/src/restore.ts";
import { runPipeline } from "../../src/shared/pipeline.ts";
import { S3Client } from "../../src/shared/s3.ts";
import type { Command } from "../command.ts";
import { BUCKET_FLAGS, decryptKeysFrom, prefixFrom, s3TargetFrom } from "../options.ts";
import { formatBytes } from "../progress.ts";

export const verify: Command = {
  summary: "check a stored backup: size and sha256; with the keyring also decrypt and decompress it fully",
  usage: "pgseal verify [<key> | --name <db>] [--without-key]",
  options: { ...BUCKET_FLAGS, name: { type: "string" }, "without-key": { type: "boolean" } },
  async run({ flags, positionals, out }) {
    const client = new S3Client(s3TargetFrom(flags), nodeHashing);
    const { manifest } = await resolveBackup(client, prefixFrom(flags), { key: positionals[0], db: flags.name as string | undefined });
    const started = performance.now();
    let checks: string;
    // Each claim below is printed only after runPipeline resolved, i.e. after every check passed.
    if (flags["without-key"]) {
      await checkStoredArtifact(client, manifest);
      checks = manifest.artifact.headerSha256 ? "header binding, size and sha256" : "size and sha256 (this manifest predates header binding)";
    } else {
      const chain = await openDump(client, manifest, await decryptKeysFrom(flags));
      await runPipeline({ ...chain, sink: { name: "discard", writable: new WritableStream() } });
      checks = `${manifest.artifact.headerSha256 ? "header binding, " : ""}size, sha256, every encrypted segment, decompression and dump size`;
    }
    const seconds = (performance.now() - started) / 1000;
    if (flags.json) out(JSON.stringify({ artifactKey: manifest.artifact.key, ok: true, checks, seconds }));
    else out(`ok: ${manifest.artifact.key} (${formatBytes(manifest.artifact.bytes)}): ${checks} verified in ${seconds.toFixed(1)}s`);
  },
};
