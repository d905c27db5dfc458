// `pgseal drill`: restore a stored backup into a throwaway cluster (or a scratch server), count every table, and seal it.
import { nodeHashing } from "../../container/src/node-hash.ts";
import { sealBackup } from "../../container/src/seal.ts";
import { contentProof, describeProof } from "../../src/shared/catalog/drill-record.ts";
import { isErrorCode, PgsealError } from "../../src/shared/errors.ts";
import { S3Client } from "../../src/shared/s3/s3.ts";
import type { Command } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, DECRYPT_ENV, decryptKeysFrom, s3TargetFrom } from "../options.ts";
import { resolveWithHint } from "../source.ts";
import { formatBytes, PROGRESS_FLAG, PROGRESS_FLAG_HELP, progressLine } from "../progress.ts";

export const drill: Command = {
  summary: "restore a backup from the bucket into a throwaway cluster, compare every table's rows with the dump, and seal it",
  usage: "pgseal drill [<key> | --name <db>] [--scratch-url URL] [--amcheck] [--json]",
  flagHelp: {
    name: "the newest complete backup of this database",
    "scratch-url": "drill in a temporary database on this server (env PGSEAL_DRILL_SCRATCH_URL)",
    amcheck: "also check every restored B-tree index with amcheck (reported, not part of the verdict)",
    ...PROGRESS_FLAG_HELP,
  },
  env: [...BUCKET_ENV, ...DECRYPT_ENV, "PGSEAL_DRILL_SCRATCH_URL", "PGSEAL_PG_BIN"],
  description: [
    "  Needs the PostgreSQL server binaries (initdb, postgres) of the dump's major version or newer,",
    "  or --scratch-url (env PGSEAL_DRILL_SCRATCH_URL): a server where a temporary database is created and dropped.",
    "  --amcheck also checks every restored B-tree index with amcheck (bt_index_check, heapallindexed); reported, not part of the verdict.",
    "  The manifest's status becomes sealed, drill-failed or drill-skipped; exit status 1 unless sealed.",
  ],
  options: { ...BUCKET_FLAGS, name: { type: "string" }, "scratch-url": { type: "string" }, amcheck: { type: "boolean" }, ...PROGRESS_FLAG },
  async run({ flags, positionals, out, err, signal }) {
    const client = new S3Client(s3TargetFrom(flags), nodeHashing, { signal });
    const keyring = await decryptKeysFrom(flags);
    const { manifest, manifestKey } = await resolveWithHint(client, flags, positionals[0]);
    const scratch = typeof flags["scratch-url"] === "string" ? flags["scratch-url"] : process.env.PGSEAL_DRILL_SCRATCH_URL || undefined;
    const line = progressLine(flags.progress === true);
    const result = await sealBackup({
      client,
      manifest,
      manifestKey,
      keyring,
      scratchUrl: scratch,
      amcheck: flags.amcheck === true,
      signal,
      onNotice: (m) => err(m),
      onProgress: (p) => line.update(`drill: ${p.step} ${formatBytes(p.bytesRead)} / ${formatBytes(p.bytesTotal)}`),
    });
    line.done();
    const d = result.drill;
    if (flags.json) out(JSON.stringify({ artifactKey: manifest.artifact.key, status: result.manifest.status, drill: d }));
    else {
      out(`${result.manifest.status}: ${manifest.artifact.key}`);
      err(`restore ${d.restoreSeconds}s, count ${d.countSeconds}s, total ${d.totalSeconds}s; ${d.tables} tables, ${d.rows} rows (${d.target}, pg_restore ${d.restoreFlags.join(" ")})`);
      for (const t of d.comparison?.tables.filter((x) => x.actual !== x.expected) ?? []) err(`  ${t.table}: dump ${t.expected}, restored ${t.actual ?? "missing"}`);
      if (d.verdict === "pass") err(`proven: ${describeProof(contentProof(d.comparison))}`);
      for (const m of d.comparison?.content?.mismatched ?? []) err(`  ${m.table}: same row count, other content (sha256 ${m.expected.slice(0, 12)}… in the dump, ${m.actual.slice(0, 12)}… restored)`);
      const am = d.comparison?.amcheck;
      if (am)
        err(am.ran ? `amcheck: ${am.indexes} indexes checked in ${am.seconds}s, ${am.failed.length} corrupt${am.failed.map((f) => `\n  ${f.index}: ${f.error}`).join("")}` : `amcheck: ${am.reason}`);
      if (d.warnings.length) err(`pg_restore said:\n  ${d.warnings.join("\n  ")}`);
    }
    if (d.verdict !== "pass") throw new PgsealError(isErrorCode(d.code) ? d.code : "DRILL_FAILED", d.reason ?? "the drill did not pass");
  },
};
