// pgseal check-bucket / setup-bucket against Swift, and the lifecycle rule logic they rely on.
import { describe, expect, it } from "vitest";
import { abortRuleCovers, lifecycleState, LIFECYCLE_RULE_ID, withAbortRule } from "../src/shared/s3/bucket-check.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { freshBucket } from "./harness/use-s3.ts";

const OTHER_RULE = "<Rule><ID>expire-logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule>";
const EXISTING = `<?xml version="1.0" encoding="UTF-8"?><LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${OTHER_RULE}</LifecycleConfiguration>`;

describe("the abort-incomplete-uploads lifecycle rule", () => {
  it("is added to existing rules without touching them, once", () => {
    const next = withAbortRule(EXISTING, "pgseal")!;
    expect(next).toContain(OTHER_RULE);
    expect(next).toContain(`<ID>${LIFECYCLE_RULE_ID}</ID><Filter><Prefix>pgseal/</Prefix></Filter>`);
    expect(abortRuleCovers(next, "pgseal/")).toEqual({ covered: true, days: 1 });
    expect(withAbortRule(next, "pgseal")).toBeNull();
  });

  it("creates the first lifecycle document when there is none, and sees a bucket-wide rule as covering every prefix", () => {
    const first = withAbortRule(null, "")!;
    expect(first).toMatch(/^<\?xml[^>]*\?><LifecycleConfiguration[^>]*><Rule>.*<\/Rule><\/LifecycleConfiguration>$/);
    expect(abortRuleCovers(first, "any/prefix/")).toEqual({ covered: true, days: 1 });
    expect(abortRuleCovers(first.replace("Enabled", "Disabled"), "x/")).toEqual({ covered: false });
  });

  it("treats a store that answers ?lifecycle with a bucket listing as not supporting lifecycle rules", () => {
    expect(lifecycleState({ status: 200, xml: "<ListBucketResult><Name>b</Name></ListBucketResult>" })).toEqual({ supported: false, existing: null });
    expect(lifecycleState({ status: 404, xml: "<Error><Code>NoSuchLifecycleConfiguration</Code></Error>" })).toEqual({ supported: true, existing: null });
    expect(lifecycleState({ status: 200, xml: EXISTING })).toEqual({ supported: true, existing: EXISTING });
  });
});

describe("pgseal check-bucket and setup-bucket on Swift", () => {
  it("confirms write, read, list and delete, and reports what Swift's S3 API does not offer as n/a", async () => {
    const target = await freshBucket("check");
    const r = await pgseal(["check-bucket", "--prefix", "pg", "--json"], pgsealEnv(target, generateKey("c").entry));
    expect(r.code, r.stderr).toBe(0);
    const findings = Object.fromEntries((JSON.parse(r.stdout) as { check: string; ok: boolean | null }[]).map((f) => [f.check, f.ok]));
    expect(findings).toMatchObject({ write: true, read: true, list: true, delete: true, "abort-incomplete-uploads": null, "object-lock": null });
    const after = await pgseal(["list", "--prefix", "pg", "--json"], pgsealEnv(target, generateKey("c").entry));
    expect(JSON.parse(after.stdout)).toEqual([]); // the probe object is gone
  });

  it("fails with S3_FORBIDDEN naming what it cannot do when the credentials are wrong", async () => {
    const target = await freshBucket("check-bad");
    const r = await pgseal(["check-bucket"], { ...pgsealEnv(target, generateKey("c").entry), PGSEAL_S3_SECRET_ACCESS_KEY: "wrong-secret" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error S3_FORBIDDEN: pgseal cannot write/);
    expect(r.stderr).not.toContain("wrong-secret");
  });

  it("refuses setup-bucket where lifecycle rules are not offered, changing nothing", async () => {
    const target = await freshBucket("setup");
    const r = await pgseal(["setup-bucket"], pgsealEnv(target, generateKey("c").entry));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not offer lifecycle rules through its S3 API .*nothing changed/);
  });
});
