// `pgseal list`: backups in the bucket, newest first, with incomplete ones marked.
import { databasePrefix, normalizePrefix, parseKey } from "../../src/shared/catalog/artifact-keys.ts";
import { listCatalog, readManifest } from "../../src/shared/catalog/catalog.ts";
import { nodeHashing } from "../../container/src/node-hash.ts";
import { S3Client } from "../../src/shared/s3/s3.ts";
import type { Command } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, prefixFrom, s3TargetFrom } from "../options.ts";
import { formatBytes } from "../progress.ts";
import { foundUnder } from "../source.ts";

export const list: Command = {
  summary: "list backups in the bucket, newest first",
  usage: "pgseal list [--name <db>] [--json]",
  flagHelp: { name: "only this database" },
  env: BUCKET_ENV,
  options: { ...BUCKET_FLAGS, name: { type: "string" } },
  async run({ flags, out, err }) {
    const client = new S3Client(s3TargetFrom(flags), nodeHashing);
    const entries = await listCatalog(client, prefixFrom(flags), flags.name as string | undefined);
    const rows = [];
    for (const e of entries) {
      const manifest = e.orphan ? undefined : await readManifest(client, e.manifestKey);
      rows.push({
        db: e.db,
        createdAt: e.createdAt.toISOString(),
        status: manifest?.status ?? "incomplete",
        bytes: manifest?.artifact.bytes ?? e.artifactBytes ?? 0,
        key: manifest?.artifact.key ?? e.artifactKey ?? e.manifestKey,
      });
    }
    // Open multipart uploads are bytes in the bucket too (a run that failed and could not abort): shown, never hidden.
    const root = flags.name ? databasePrefix(prefixFrom(flags), flags.name as string) : normalizePrefix(prefixFrom(flags)) ? `${normalizePrefix(prefixFrom(flags))}/` : "";
    for await (const u of client.listMultipartUploads(root)) {
      const parsed = parseKey(u.key);
      rows.push({ db: parsed?.db ?? "?", createdAt: u.initiated.toISOString(), status: "open-upload", bytes: 0, key: u.key });
    }
    if (flags.json) return out(JSON.stringify(rows));
    if (!rows.length) {
      // The usual first-day miss: the Worker writes under its config's prefix ('pgseal' in the example), the CLI defaults to none.
      const prefix = normalizePrefix(prefixFrom(flags));
      const what = `no backups${flags.name ? ` of '${flags.name as string}'` : ""} under ${prefix ? `prefix '${prefix}'` : "the bucket root (no prefix)"}`;
      const hint = await foundUnder(client, prefix);
      out(what);
      if (hint) err(`found under: ${hint}`);
      return;
    }
    for (const r of rows)
      out(`${r.createdAt}  ${r.db.padEnd(16)} ${r.status.padEnd(11)} ${r.status === "open-upload" ? "(abort: pgseal prune)".padStart(10) : formatBytes(r.bytes).padStart(10)}  ${r.key}`);
  },
};
