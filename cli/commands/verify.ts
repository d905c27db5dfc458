// `pgseal verify`: integrity of a stored artifact without restoring it (size, sha256, and with the key: every segment).
import { resolveBackup } from "../../src/shared/catalog.ts";
import { nodeHashing } from "../../container/src/node-hash.ts";
import { openDump } from "../../container/src/restore.ts";
import { S3Client } from "../../src/shared/s3.ts";
import { verifyStage } from "../../src/shared/verify-stage.ts";
import type { Command } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, DECRYPT_ENV, decryptKeysFrom, prefixFrom, s3TargetFrom } from "../options.ts";
import { formatBytes } from "../progress.ts";

export const verify: Command = {
  summary: "check a stored backup: size and sha256; with the keyring also decrypt and decompress it fully",
  usage: "pgseal verify [<key> | --name <db>] [--without-key]",
  flagHelp: { name: "the newest complete backup of this database", "without-key": "check size and sha256 only (no key needed)" },
  env: [...BUCKET_ENV, ...DECRYPT_ENV],
  options: { ...BUCKET_FLAGS, name: { type: "string" }, "without-key": { type: "boolean" } },
  async run({ flags, positionals, out }) {
    const client = new S3Client(s3TargetFrom(flags), nodeHashing);
    const { manifest } = await resolveBackup(client, prefixFrom(flags), { key: positionals[0], db: flags.name as string | undefined });
    const started = performance.now();
    let checks: string;
    if (flags["without-key"]) {
      const { body } = await client.get(manifest.artifact.key);
      await body.pipeThrough(verifyStage(nodeHashing, manifest.artifact, `artifact ${manifest.artifact.key}`)).pipeTo(new WritableStream());
      checks = "size and sha256";
    } else {
      await (await openDump(client, manifest, await decryptKeysFrom(flags))).pipeTo(new WritableStream());
      checks = "size, sha256, every encrypted segment, decompression and dump size";
    }
    const seconds = (performance.now() - started) / 1000;
    if (flags.json) out(JSON.stringify({ artifactKey: manifest.artifact.key, ok: true, checks, seconds }));
    else out(`ok: ${manifest.artifact.key} (${formatBytes(manifest.artifact.bytes)}): ${checks} verified in ${seconds.toFixed(1)}s`);
  },
};
