// `pgseal restore`: bucket → verify → decrypt → decompress → pg_restore into a target database.
import { resolveBackup } from "../../src/shared/catalog.ts";
import { nodeHashing } from "../../container/src/node-hash.ts";
import { runRestore } from "../../container/src/restore.ts";
import { S3Client } from "../../src/shared/s3.ts";
import type { Command } from "../command.ts";
import { BUCKET_FLAGS, ENV, decryptKeysFrom, prefixFrom, s3TargetFrom, urlFrom } from "../options.ts";
import { formatBytes, progressLine } from "../progress.ts";

export const restore: Command = {
  summary: "restore a backup (a key, or the newest sealed one of --name) into an empty database",
  usage: `pgseal restore [<key> | --name <db> [--undrilled]] [--target <url> | ${ENV.targetUrl}] [--clean] [--no-owner] [--no-acl]`,
  options: {
    ...BUCKET_FLAGS,
    name: { type: "string" },
    undrilled: { type: "boolean" },
    target: { type: "string" },
    clean: { type: "boolean" },
    "no-owner": { type: "boolean" },
    "no-acl": { type: "boolean" },
  },
  async run({ flags, positionals, out, err }) {
    const targetUrl = urlFrom(flags, "target", ENV.targetUrl, "target database URL");
    const keyring = await decryptKeysFrom(flags);
    const client = new S3Client(s3TargetFrom(flags), nodeHashing);
    // --name takes only a drill-proven (sealed) backup unless told otherwise: the newest one may never have been restored.
    const undrilled = !!flags.undrilled;
    const picked = await resolveBackup(client, prefixFrom(flags), { key: positionals[0], db: flags.name as string | undefined }, { sealedOnly: !undrilled });
    const { manifest } = picked;
    const why = undrilled && !positionals[0] ? picked.why.replace(/^the newest backup/, "the newest backup (--undrilled)") : picked.why;
    err(`restoring ${manifest.artifact.key} (${manifest.db}, ${manifest.createdAt}, ${formatBytes(manifest.artifact.bytes)}): ${why}`);
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
    if (flags.json) out(JSON.stringify({ artifactKey: manifest.artifact.key, status: manifest.status, why, seconds: result.seconds, warnings: result.warnings }));
    else out(`restored ${manifest.artifact.key} in ${result.seconds.toFixed(1)}s`);
  },
};
