// `pgseal decrypt`: a stored artifact back to a plain pg_dump custom-format file (or stdout).
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Writable } from "node:stream";
import { resolveBackup } from "../../src/shared/catalog.ts";
import { nodeHashing } from "../../container/src/node-hash.ts";
import { openDump } from "../../container/src/restore.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import { S3Client } from "../../src/shared/s3.ts";
import type { Command } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, DECRYPT_ENV, decryptKeysFrom, prefixFrom, s3TargetFrom } from "../options.ts";
import { formatBytes } from "../progress.ts";

export const decrypt: Command = {
  summary: "write a backup as a plain pg_dump custom-format file (pg_restore reads it)",
  usage: "pgseal decrypt [<key> | --name <db>] --output <file | ->",
  flagHelp: { name: "the newest complete backup of this database", output: "where to write the dump (created 0600; - for stdout)" },
  env: [...BUCKET_ENV, ...DECRYPT_ENV],
  options: { ...BUCKET_FLAGS, name: { type: "string" }, output: { type: "string", short: "o" } },
  async run({ flags, positionals, err }) {
    const output = flags.output as string | undefined;
    if (!output) throw new PgsealError("USAGE", "--output <file> is required (use - for stdout)");
    if (output === "-" && process.stdout.isTTY) throw new PgsealError("USAGE", "refusing to write a binary dump to a terminal: redirect stdout or use --output <file>");
    const keyring = await decryptKeysFrom(flags);
    const client = new S3Client(s3TargetFrom(flags), nodeHashing);
    const { manifest } = await resolveBackup(client, prefixFrom(flags), { key: positionals[0], db: flags.name as string | undefined });
    const dump = await openDump(client, manifest, keyring);
    if (output === "-") {
      await dump.pipeTo(Writable.toWeb(process.stdout));
      return;
    }
    // Written beside the target and renamed only once verified: a failed decrypt leaves no file that looks complete.
    const partial = `${output}.partial`;
    try {
      await dump.pipeTo(Writable.toWeb(createWriteStream(partial, { flags: "wx" })));
      await rename(partial, output);
    } catch (e) {
      await rm(partial, { force: true });
      throw e;
    }
    err(`wrote ${output} (${formatBytes(manifest.dump.bytes)}, pg_dump custom format; sha256 of the stored artifact verified)`);
  },
};
