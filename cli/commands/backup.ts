// `pgseal backup`: pg_dump → zstd/gzip → encrypt → multipart upload → manifest.
import { runBackup } from "../../container/src/backup.ts";
import { nodeHashing } from "../../container/src/node-hash.ts";
import { sealBackup } from "../../container/src/seal.ts";
import type { DrillRecord } from "../../src/shared/drill-record.ts";
import { isErrorCode, PgsealError } from "../../src/shared/errors.ts";
import { S3Client } from "../../src/shared/s3.ts";
import type { Command } from "../command.ts";
import { BUCKET_FLAGS, ENV, keyringFrom, prefixFrom, s3TargetFrom, urlFrom } from "../options.ts";
import { formatBytes, progressLine } from "../progress.ts";
import { parsePgUrl } from "../../src/shared/pg-url.ts";

export const backup: Command = {
  summary: "back a database up to the bucket, encrypted",
  usage: `pgseal backup [--db-url <url> | ${ENV.databaseUrl}] [--name <db>] [--compression zstd|gzip] [--level N] [--part-size-mib N] [--drill [--scratch-url URL]]`,
  options: {
    ...BUCKET_FLAGS,
    "db-url": { type: "string" },
    name: { type: "string" },
    compression: { type: "string" },
    level: { type: "string" },
    "part-size-mib": { type: "string" },
    drill: { type: "boolean" },
    "scratch-url": { type: "string" },
  },
  async run({ flags, out, err, signal }) {
    const databaseUrl = urlFrom(flags, "db-url", ENV.databaseUrl, "database URL");
    const compression = (flags.compression as string | undefined) ?? "zstd";
    if (compression !== "zstd" && compression !== "gzip") throw new PgsealError("USAGE", `--compression must be zstd or gzip, not '${compression}'`);
    const level = flags.level === undefined ? undefined : Number(flags.level);
    if (level !== undefined && !(Number.isInteger(level) && level >= 1 && level <= 19)) throw new PgsealError("USAGE", "--level must be an integer 1-19");
    const partMiB = flags["part-size-mib"] === undefined ? undefined : Number(flags["part-size-mib"]);
    if (partMiB !== undefined && !(Number.isInteger(partMiB) && partMiB >= 5 && partMiB <= 5120)) throw new PgsealError("USAGE", "--part-size-mib must be an integer 5-5120");
    const name = (flags.name as string | undefined) ?? parsePgUrl(databaseUrl).database;
    const line = progressLine();
    const result = await runBackup(
      {
        db: name,
        databaseUrl,
        s3: s3TargetFrom(flags),
        prefix: prefixFrom(flags),
        keyring: keyringFrom(flags),
        compression,
        level,
        partSize: partMiB && partMiB * 1024 * 1024,
      },
      {
        signal,
        onNotice: (m) => err(`notice: ${m}`),
        onProgress: (p) =>
          line.update(
            `${p.phase}${p.table ? ` ${p.table}` : ""} · dumped ${formatBytes(p.bytesDumped)}${p.sourceBytes ? ` (db ${formatBytes(p.sourceBytes)})` : ""} · uploaded ${formatBytes(p.bytesUploaded)} in ${p.partsUploaded} parts · ${(p.elapsedMs / 1000).toFixed(0)}s`,
          ),
      },
    ).finally(() => line.done());
    let m = result.manifest;
    let drilled: DrillRecord | undefined;
    if (flags.drill) {
      const client = new S3Client(s3TargetFrom(flags), nodeHashing, { signal });
      const scratch = typeof flags["scratch-url"] === "string" ? flags["scratch-url"] : process.env.PGSEAL_DRILL_SCRATCH_URL || undefined;
      const sealed = await sealBackup({ client, manifest: m, manifestKey: result.manifestKey, keyring: keyringFrom(flags), inventory: result.inventory, scratchUrl: scratch, signal, onNotice: (n) => err(n) });
      m = sealed.manifest;
      drilled = sealed.drill;
      err(`drill ${drilled.verdict}: restored in ${drilled.restoreSeconds}s, ${drilled.tables} tables and ${drilled.rows} rows compared → ${m.status}${drilled.reason ? ` (${drilled.code}: ${drilled.reason})` : ""}`);
    }
    if (flags.json) out(JSON.stringify({ manifestKey: result.manifestKey, manifest: m, ...(drilled ? { drill: drilled } : {}) }));
    else {
      out(m.artifact.key);
      err(
        `backed up ${m.db}: dump ${formatBytes(m.dump.bytes)} → ${m.compression.algorithm} ${formatBytes(m.compression.bytes)} → stored ${formatBytes(m.artifact.bytes)} in ${m.artifact.parts} parts, ${m.timings.totalSeconds.toFixed(1)}s (key id ${m.encryption.keyId})`,
      );
    }
    if (drilled && drilled.verdict !== "pass") throw new PgsealError(isErrorCode(drilled.code) ? drilled.code : "DRILL_FAILED", `the backup is stored but not sealed: ${drilled.reason ?? drilled.verdict}`);
  },
};
