// Bucket creation on the test S3 server; free of vitest imports so the vitest config can use it too.
import { randomBytes } from "node:crypto";
import { AwsClient } from "aws4fetch";

export interface S3Credentials {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Creates a bucket named `<prefix>-<12 hex>` (unique per call) and returns its name. */
export async function createUniqueBucket(creds: S3Credentials, prefix: string): Promise<string> {
  const client = new AwsClient({ accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, region: creds.region, service: "s3" });
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, 40);
  const name = `${clean}-${randomBytes(6).toString("hex")}`;
  const res = await client.fetch(`${creds.endpoint}/${name}`, { method: "PUT" });
  const body = await res.text();
  if (!res.ok) throw new Error(`creating bucket ${name} failed: HTTP ${res.status} ${body.slice(0, 500)}`);
  return name;
}
