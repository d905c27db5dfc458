// `pgseal restore`: bucket → verify → decrypt → decompress → pg_restore into a target database.
import { resolveBackup } from "../../src/shared/catalog.ts";
import { nodeHashing } from "../../container/src/node-hash.ts";
import { runRestore } from "../../container/src/restore.ts";
import { S3Client } from "../../src/shared/s3.ts";
import type { Command } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, DECRYPT_ENV, ENV, decryptKeysFrom, prefixFrom, s3TargetFrom, urlFrom } from "../options.ts";
import { formatBytes, progressLine } from "../progress.ts";

export const restore: Command = {
  summary: "restore a backup (a key, or the latest of --name) into an empty database",
  usage: `pgseal restore [<key> | --name <db>] [--target <url> | ${ENV.targetUrl}] [--clean] [--no-owner] [--no-acl]`,
  flagHelp: {
    name: "the newest complete backup of this database",
    target: `target database URL; it must exist and be empty (env ${ENV.targetUrl})`,
    clean: "drop existing objects in the target first (pg_restore --clean --if-exists)",
    "no-owner": "do not restore ownership (pg_restore --no-owner), for targets without the source's roles",
    "no-acl": "do not restore privileges (pg_restore --no-acl)",
  },
  env: [ENV.targetUrl, ...BUCKET_ENV, ...DECRYPT_ENV, "PGSEAL_PG_BIN"],
  options: {
    ...BUCKET_FLAGS,
    name: { type: "string" },
    target: { type: "string" },
    clean: { type: "boolean" },
    "no-owner": { type: "boolean" },
    "no-acl": { type: "boolean" },
  },
  async run({ flags, positionals, out, err }) {
    const targetUrl = urlFrom(flags, "target", ENV.targetUrl, "target database URL");
    const keyring = await decryptKeysFrom(flags);
    const client = new S3Client(s3TargetFrom(flags), nodeHashing);
    const { manifest } = await resolveBackup(client, prefixFrom(flags), { key: positionals[0], db: flags.name as string | undefined });
    err(`restoring ${manifest.artifact.key} (${manifest.db}, ${manifest.createdAt}, ${formatBytes(manifest.artifact.bytes)})`);
    const line = progressLine();
    const result = await runRestore({
      client,
      manifest,
      keyring,
      targetUrl,
      options: { clean: !!flags.clean, noOwner: !!flags["no-owner"], noAcl: !!flags["no-acl"] },
      onNotice: (m) => err(`notice: ${m}`),
      onProgress: (p) => line.update(`restoring · read ${formatBytes(p.bytesRead)} of ${formatBytes(p.bytesTotal)} · ${formatBytes(p.bytesPlain)} into pg_restore`),
    }).finally(() => line.done());
    for (const w of result.warnings) err(`pg_restore: ${w}`);
    if (flags.json) out(JSON.stringify({ artifactKey: manifest.artifact.key, seconds: result.seconds, warnings: result.warnings }));
    else out(`restored ${manifest.artifact.key} in ${result.seconds.toFixed(1)}s`);
  },
};
