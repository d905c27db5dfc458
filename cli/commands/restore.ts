// `pgseal restore`: bucket → verify → decrypt → decompress → pg_restore into a target database.
import { runRestore } from "../../container/src/restore.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import type { Command } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, DECRYPT_ENV, ENV, decryptKeysFrom, urlFrom } from "../options.ts";
import { parsePgUrl } from "../../src/shared/pg-url.ts";
import { formatBytes, PROGRESS_FLAG, PROGRESS_FLAG_HELP, progressLine } from "../progress.ts";
import { backupSource, isBare } from "../source.ts";

export const restore: Command = {
  summary: "restore a backup (a key, a local file, or the newest sealed one of --name) into an empty database",
  usage: `pgseal restore [<key> | <local file> | --name <db> [--undrilled]] [--target <url> | ${ENV.targetUrl}] [--clean] [--no-owner] [--no-acl]`,
  description: [
    "The target database must exist (createdb it first) and be empty unless --clean.",
    "A local file is an artifact downloaded from the bucket (aws s3 cp) with its .manifest.json beside it, or that manifest.",
  ],
  flagHelp: {
    name: "the newest sealed (drill-proven) backup of this database",
    undrilled: "with --name: also consider backups that were never drilled or whose drill was skipped (the newest complete one is taken)",
    target: `target database URL; it must exist and be empty (env ${ENV.targetUrl})`,
    clean: "drop existing objects in the target first (pg_restore --clean --if-exists)",
    "no-owner": "do not restore ownership (pg_restore --no-owner), for targets without the source's roles",
    "no-acl": "do not restore privileges (pg_restore --no-acl)",
    ...PROGRESS_FLAG_HELP,
  },
  env: [ENV.targetUrl, ...BUCKET_ENV, ...DECRYPT_ENV, "PGSEAL_PG_BIN"],
  options: {
    ...BUCKET_FLAGS,
    name: { type: "string" },
    undrilled: { type: "boolean" },
    target: { type: "string" },
    clean: { type: "boolean" },
    "no-owner": { type: "boolean" },
    "no-acl": { type: "boolean" },
    ...PROGRESS_FLAG,
  },
  async run({ flags, positionals, out, err }) {
    const targetUrl = urlFrom(flags, "target", ENV.targetUrl, "target database URL");
    const keyring = await decryptKeysFrom(flags);
    // --name takes only a drill-proven (sealed) backup unless told otherwise: the newest one may never have been restored.
    const undrilled = !!flags.undrilled;
    const source = await backupSource(flags, positionals[0], undefined, { sealedOnly: !undrilled });
    if (isBare(source)) throw new PgsealError("ARTIFACT_NOT_FOUND", `no manifest beside ${source.path}: expected ${source.expectedManifest} (download it with the artifact)`);
    const { manifest } = source;
    const why = undrilled && !positionals[0] ? source.why.replace(/^the newest backup/, "the newest backup (--undrilled)") : source.why;
    err(`restoring ${manifest.artifact.key} (${manifest.db}, ${manifest.createdAt}, ${formatBytes(manifest.artifact.bytes)}): ${why}`);
    const line = progressLine(flags.progress === true);
    const result = await runRestore({
      // runRestore reads the artifact with `get` only: a local file serves it as well as the bucket.
      client: source.reader,
      manifest,
      keyring,
      targetUrl,
      options: { clean: !!flags.clean, noOwner: !!flags["no-owner"], noAcl: !!flags["no-acl"] },
      onNotice: (m) => err(`notice: ${m}`),
      onProgress: (p) => line.update(`restoring · read ${formatBytes(p.bytesRead)} of ${formatBytes(p.bytesTotal)} · ${formatBytes(p.bytesPlain)} into pg_restore`),
    }).finally(() => line.done());
    for (const w of result.warnings) err(`pg_restore: ${w}`);
    if (flags.json) {
      const from = source.where === "the bucket" ? {} : { file: source.where };
      out(
        JSON.stringify({
          artifactKey: manifest.artifact.key,
          ...from,
          db: manifest.db,
          createdAt: manifest.createdAt,
          status: manifest.status,
          why,
          target: parsePgUrl(targetUrl).redacted,
          seconds: result.seconds,
          warnings: result.warnings,
        }),
      );
    } else out(`restored ${manifest.artifact.key} in ${result.seconds.toFixed(1)}s`);
  },
};
