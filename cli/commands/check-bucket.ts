// `pgseal check-bucket` and `pgseal setup-bucket`: what the bucket allows and protects, and the lifecycle rule that cleans up after dead uploads.
import { nodeHashing } from "../../container/src/node-hash.ts";
import { checkBucket, lifecycleState, withAbortRule } from "../../src/shared/s3/bucket-check.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import { S3Client } from "../../src/shared/s3/s3.ts";
import type { Command } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, prefixFrom, s3TargetFrom } from "../options.ts";

const MARK = { true: "ok  ", false: "FIX ", null: "n/a " } as const;

export const checkBucketCommand: Command = {
  summary: "check the bucket: write, read, list, delete; versioning, object lock, and a lifecycle rule for stale uploads",
  usage: "pgseal check-bucket [--json]",
  description: ["Exit status 1 if pgseal cannot write, read, list or delete under the prefix."],
  env: BUCKET_ENV,
  options: { ...BUCKET_FLAGS },
  async run({ flags, out, signal }) {
    const client = new S3Client(s3TargetFrom(flags), nodeHashing, { signal });
    const findings = await checkBucket(client, prefixFrom(flags));
    if (flags.json) out(JSON.stringify(findings));
    else for (const f of findings) out(`${MARK[String(f.ok) as keyof typeof MARK]} ${f.check.padEnd(24)} ${f.detail}`);
    const broken = findings.filter((f) => ["write", "read", "list", "delete"].includes(f.check) && f.ok === false);
    if (broken.length) throw new PgsealError("S3_FORBIDDEN", `pgseal cannot ${broken.map((f) => f.check).join(", ")} in ${client.where()}: check the key's permissions`);
  },
};

export const setupBucket: Command = {
  summary: "add a lifecycle rule that aborts incomplete multipart uploads under the prefix after a day (existing rules are kept)",
  usage: "pgseal setup-bucket [--dry-run]",
  flagHelp: { "dry-run": "print the lifecycle configuration that would be written; change nothing" },
  env: BUCKET_ENV,
  options: { ...BUCKET_FLAGS, "dry-run": { type: "boolean" } },
  async run({ flags, out, err, signal }) {
    const client = new S3Client(s3TargetFrom(flags), nodeHashing, { signal });
    const current = await client.bucketConfig("lifecycle");
    const state = lifecycleState(current);
    if (!state.supported) {
      throw new PgsealError(
        "S3_BAD_REQUEST",
        `${client.where()} does not offer lifecycle rules through its S3 API (HTTP ${current.status}); nothing changed. The Worker aborts stale uploads under the prefix itself after each sealed backup`,
      );
    }
    const next = withAbortRule(state.existing, prefixFrom(flags));
    if (next === null) {
      out("ok: a lifecycle rule already aborts incomplete multipart uploads under the prefix; nothing changed");
      return;
    }
    if (flags["dry-run"]) {
      out(next);
      err("dry run: this lifecycle configuration would be written");
      return;
    }
    await client.putBucketLifecycle(next);
    out(`added lifecycle rule: abort incomplete multipart uploads under the prefix after 1 day (${client.where()})`);
  },
};
