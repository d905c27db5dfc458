// `pgseal backup`: pg_dump → zstd/gzip → encrypt → multipart upload → manifest.
import { runBackup, type BackupProgress } from "../../container/src/backup.ts";
import { runBackupJob } from "../../container/src/backup-job.ts";
import { parseRecipient } from "../../src/shared/format/recipient.ts";
import { contentProof, describeProof, type DrillRecord } from "../../src/shared/catalog/drill-record.ts";
import { isErrorCode, PgsealError } from "../../src/shared/errors.ts";
import type { Command } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, ENV, keyringFrom, prefixFrom, s3TargetFrom, urlFrom } from "../options.ts";
import { formatBytes, plural, PROGRESS_FLAG, PROGRESS_FLAG_HELP, progressLine } from "../progress.ts";
import { parsePgUrl } from "../../src/shared/pg-url.ts";
import { levelProblem } from "../../container/src/stages/compress.ts";

export const backup: Command = {
  summary: "back a database up to the bucket, encrypted",
  usage: `pgseal backup [--db-url <url> | ${ENV.databaseUrl}] [--name <db>] [--compression zstd|gzip] [--level N] [--part-size-mib N] [--drill [--scratch-url URL]] [--recipient pgseal-public-v1:…]`,
  flagHelp: {
    "db-url": `source database URL (env ${ENV.databaseUrl}; prefer the environment: command lines show in ps)`,
    name: "database name in the object keys (default: the database in the URL)",
    compression: "zstd (default) or gzip",
    level: "compression level: zstd 1-19 (default 3), gzip 1-9 (default 6)",
    "part-size-mib": "multipart upload part size, 5-5120 MiB (memory use is about two parts)",
    drill: "after the upload, restore it into a throwaway cluster, compare every table, and seal it",
    "scratch-url": "with --drill: drill in a temporary database on this server instead (env PGSEAL_DRILL_SCRATCH_URL)",
    recipient: "key custody: seal to this public key (env PGSEAL_RECIPIENT) instead of the keyring",
    ...PROGRESS_FLAG_HELP,
  },
  env: [ENV.databaseUrl, ...BUCKET_ENV, ENV.keyring, ENV.keyringFile, "PGSEAL_RECIPIENT", "PGSEAL_DRILL_SCRATCH_URL", "PGSEAL_PG_BIN"],
  options: {
    ...BUCKET_FLAGS,
    "db-url": { type: "string" },
    name: { type: "string" },
    compression: { type: "string" },
    level: { type: "string" },
    "part-size-mib": { type: "string" },
    drill: { type: "boolean" },
    "scratch-url": { type: "string" },
    recipient: { type: "string" },
    ...PROGRESS_FLAG,
  },
  async run({ flags, out, err, signal }) {
    const databaseUrl = urlFrom(flags, "db-url", ENV.databaseUrl, "database URL");
    const compression = (flags.compression as string | undefined) ?? "zstd";
    if (compression !== "zstd" && compression !== "gzip") throw new PgsealError("USAGE", `--compression must be zstd or gzip, not '${compression}'`);
    const level = flags.level === undefined ? undefined : Number(flags.level);
    const levelIsBad = level === undefined ? undefined : levelProblem(compression, level);
    if (levelIsBad) throw new PgsealError("USAGE", `--level ${levelIsBad}, not '${flags.level}'`);
    const partMiB = flags["part-size-mib"] === undefined ? undefined : Number(flags["part-size-mib"]);
    if (partMiB !== undefined && !(Number.isInteger(partMiB) && partMiB >= 5 && partMiB <= 5120)) throw new PgsealError("USAGE", "--part-size-mib must be an integer 5-5120");
    const name = (flags.name as string | undefined) ?? parsePgUrl(databaseUrl).database;
    const line = progressLine(flags.progress === true);
    // Key custody: with PGSEAL_RECIPIENT (or --recipient) the backup is sealed to that public key and
    // this machine cannot read it back; otherwise the keyring encrypts.
    const recipientText = typeof flags.recipient === "string" ? flags.recipient : process.env.PGSEAL_RECIPIENT;
    const keys = recipientText ? { recipient: parseRecipient(recipientText) } : { keyring: keyringFrom(flags) };
    const spec = { db: name, databaseUrl, s3: s3TargetFrom(flags), prefix: prefixFrom(flags), ...keys, compression, level, partSize: partMiB && partMiB * 1024 * 1024 } as const;
    const onProgress = (p: BackupProgress) =>
      line.update(
        p.phase === "drilling" && p.drill
          ? `drilling: ${p.drill.step} ${formatBytes(p.drill.bytesRead)} / ${formatBytes(p.drill.bytesTotal)}`
          : `${p.phase}${p.table ? ` ${p.table}` : ""} · dumped ${formatBytes(p.bytesDumped)}${p.sourceBytes ? ` (db ${formatBytes(p.sourceBytes)})` : ""} · compressed ${formatBytes(p.bytesCompressed)} · uploaded ${formatBytes(p.bytesUploaded)} in ${plural(p.partsUploaded, "part")} · ${(p.elapsedMs / 1000).toFixed(0)}s`,
      );
    const onNotice = (m: string) => err(`notice: ${m}`);
    const scratch = typeof flags["scratch-url"] === "string" ? flags["scratch-url"] : process.env.PGSEAL_DRILL_SCRATCH_URL || undefined;
    // --drill runs exactly what the streamer runs: the backup, then its drill, the verdict in the manifest.
    const result = await (flags.drill
      ? runBackupJob(spec, { mode: scratch ? "scratch" : "local", ...(scratch ? { scratchUrl: scratch } : {}) }, { signal, report: onProgress, onNotice })
      : runBackup(spec, { signal, onNotice, onProgress })
    ).finally(() => line.done());
    const m = result.manifest;
    const drilled: DrillRecord | undefined = "drill" in result ? result.drill : undefined;
    if (drilled)
      err(
        `drill ${drilled.verdict}: restored in ${drilled.restoreSeconds}s, ${drilled.tables} tables and ${drilled.rows} rows compared → ${m.status}${drilled.reason ? ` (${drilled.code}: ${drilled.reason})` : `; ${describeProof(contentProof(drilled.comparison))}`}`,
      );
    if (flags.json) out(JSON.stringify({ manifestKey: result.manifestKey, manifest: m, ...(drilled ? { drill: drilled } : {}) }));
    else {
      out(m.artifact.key);
      err(
        `backed up ${m.db}: dump ${formatBytes(m.dump.bytes)} → ${m.compression.algorithm} ${formatBytes(m.compression.bytes)} → stored ${formatBytes(m.artifact.bytes)} in ${plural(m.artifact.parts, "part")}, ${m.timings.totalSeconds.toFixed(1)}s (key id ${m.encryption.keyId})`,
      );
    }
    if (drilled && drilled.verdict !== "pass")
      throw new PgsealError(isErrorCode(drilled.code) ? drilled.code : "DRILL_FAILED", `the backup is stored but not sealed: ${drilled.reason ?? drilled.verdict}`);
  },
};
