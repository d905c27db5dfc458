// `pgseal decrypt`: a stored artifact (in the bucket, or a downloaded file) back to a plain pg_dump custom-format file (or stdout).
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Writable } from "node:stream";
import { openDump } from "../../container/src/restore.ts";
import { runPipeline } from "../../src/shared/pipeline/pipeline.ts";
import { stdoutSink } from "../stdout.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import type { Command } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, DECRYPT_ENV, decryptKeysFrom } from "../options.ts";
import { formatBytes } from "../progress.ts";
import { backupSource, isBare } from "../source.ts";

export const decrypt: Command = {
  summary: "write a backup as a plain pg_dump custom-format file (pg_restore reads it)",
  usage: "pgseal decrypt [<key> | <local file> | --name <db>] --output <file | ->",
  description: [
    "A local file is an artifact downloaded from the bucket (aws s3 cp) with its .manifest.json beside it, or that manifest.",
    "The output holds your data in the clear: it is created readable by you only (0600).",
  ],
  flagHelp: { name: "the newest complete backup of this database", output: "where to write the dump (created 0600; - for stdout)" },
  env: [...BUCKET_ENV, ...DECRYPT_ENV],
  options: { ...BUCKET_FLAGS, name: { type: "string" }, output: { type: "string", short: "o" } },
  async run({ flags, positionals, err, signal }) {
    const output = flags.output as string | undefined;
    if (!output) throw new PgsealError("USAGE", "--output <file> is required (use - for stdout)");
    if (output === "-" && process.stdout.isTTY) throw new PgsealError("USAGE", "refusing to write a binary dump to a terminal: redirect stdout or use --output <file>");
    const keyring = await decryptKeysFrom(flags);
    const source = await backupSource(flags, positionals[0]);
    if (isBare(source)) {
      throw new PgsealError(
        "ARTIFACT_NOT_FOUND",
        `no manifest beside ${source.path}: expected ${source.expectedManifest} (download it with the artifact; 'pgseal verify ${source.path}' checks what it can without one)`,
      );
    }
    const { manifest } = source;
    // openDump reads the artifact with `get` only: a local file serves it as well as the bucket.
    const chain = await openDump(source.reader, manifest, keyring);
    if (output === "-") {
      await runPipeline({ ...chain, sink: { name: "stdout", writable: stdoutSink() }, signal });
      return;
    }
    // Written beside the target and renamed only once verified: a failed decrypt leaves no file that looks complete.
    // 0600: the plaintext dump holds the whole database.
    const partial = `${output}.partial`;
    try {
      await runPipeline({ ...chain, sink: { name: "file", writable: Writable.toWeb(createWriteStream(partial, { flags: "wx", mode: 0o600 })) }, signal });
      await rename(partial, output);
    } catch (e) {
      await rm(partial, { force: true });
      throw e;
    }
    err(`wrote ${output} (${formatBytes(manifest.dump.bytes)}, pg_dump custom format; header, size and sha256 of the stored artifact and every encrypted segment verified)`);
  },
};
