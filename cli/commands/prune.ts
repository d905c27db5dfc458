// `pgseal prune`: apply a GFS retention policy to one database's backups in the bucket (--dry-run: show the plan only).
import { nodeHashing } from "../../container/src/node-hash.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import { executePrune, planPrune } from "../../src/shared/catalog/prune.ts";
import { DEFAULT_RETENTION, parseRetentionPolicy } from "../../src/shared/catalog/retention.ts";
import { S3Client } from "../../src/shared/s3/s3.ts";
import type { Command } from "../command.ts";
import { BUCKET_ENV, BUCKET_FLAGS, prefixFrom, s3TargetFrom } from "../options.ts";

const POLICY_FLAGS = {
  "keep-last": "keepLast",
  hourly: "hourly",
  daily: "daily",
  weekly: "weekly",
  monthly: "monthly",
  yearly: "yearly",
  "max-age-days": "maxAgeDays",
  "unsealed-grace-days": "unsealedGraceDays",
} as const;

export const prune: Command = {
  summary: "delete backups of a database that its retention policy no longer keeps (only sealed ones count; the newest sealed never goes)",
  usage: "pgseal prune --name <db> [--dry-run] [--keep-last N] [--hourly N] [--daily N] [--weekly N] [--monthly N] [--yearly N] [--max-age-days N] [--unsealed-grace-days N] [--json]",
  flagHelp: {
    name: "the database (required)",
    "dry-run": "print the plan; delete nothing",
    "keep-last": "keep the N newest sealed backups",
    hourly: "keep the newest sealed backup of each of the N most recent hours that have one",
    daily: "… of the N most recent UTC days",
    weekly: "… of the N most recent ISO weeks",
    monthly: "… of the N most recent months",
    yearly: "… of the N most recent years",
    "max-age-days": "delete sealed backups older than N days (the newest sealed is always kept)",
    "unsealed-grace-days": "delete unsealed backups only after N days and once a newer sealed one exists",
  },
  env: BUCKET_ENV,
  description: [
    `  Unset counts take the defaults (${Object.entries(DEFAULT_RETENTION)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}).`,
  ],
  options: { ...BUCKET_FLAGS, name: { type: "string" }, "dry-run": { type: "boolean" }, ...Object.fromEntries(Object.keys(POLICY_FLAGS).map((f) => [f, { type: "string" as const }])) },
  async run({ flags, out, err, signal }) {
    const db = flags.name;
    if (typeof db !== "string" || db === "") throw new PgsealError("USAGE", "--name <db> is required: prune works on one database at a time");
    const raw: Record<string, unknown> = {};
    for (const [flag, field] of Object.entries(POLICY_FLAGS)) {
      const v = flags[flag];
      if (typeof v === "string") raw[field] = Number(v);
    }
    const { policy, problems } = parseRetentionPolicy(raw, "policy");
    if (problems.length) throw new PgsealError("USAGE", problems.map((p) => `--${Object.entries(POLICY_FLAGS).find(([, f]) => p.path.endsWith(`.${f}`))?.[0] ?? p.path}: ${p.message}`).join("; "));
    const client = new S3Client(s3TargetFrom(flags), nodeHashing, { signal });
    const { plan, targets } = await planPrune(client, prefixFrom(flags), db, policy, new Date());
    const dry = flags["dry-run"] === true;
    const result = dry ? null : await executePrune(client, plan, targets);
    if (flags.json) {
      out(JSON.stringify({ ...plan, dryRun: dry, result }));
    } else {
      for (const d of [...plan.keep, ...plan.delete].sort((a, b) => b.createdAt.localeCompare(a.createdAt))) {
        out(`${d.action === "keep" ? "keep  " : dry ? "would delete" : "delete"}  ${d.createdAt}  ${d.status.padEnd(13)} ${d.key}  (${d.reasons.join("; ")})`);
      }
      for (const u of plan.staleUploads) out(`${dry ? "would abort" : "abort"}  stale multipart upload ${u.key} (started ${u.initiated})`);
      err(
        `${plan.keep.length} kept, ${plan.delete.length} ${dry ? "to delete (dry run: nothing changed)" : "deleted"}${plan.staleUploads.length ? `, ${plan.staleUploads.length} stale uploads` : ""}`,
      );
    }
    if (result?.errors.length) throw new PgsealError("S3_UNAVAILABLE", `some deletions failed: ${result.errors.join("; ")}`, { retryable: true });
  },
};
