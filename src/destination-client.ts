// An S3 client for a configured destination, with its credentials read from the Worker's secrets at the moment of use.
import { accessKeySecret, secretKeySecret, type Destination } from "./config.ts";
import { PgsealError } from "./shared/errors.ts";
import { S3Client } from "./shared/s3/s3.ts";
import { workersHashing } from "./shared/web-hash.ts";

export function destinationClient(env: object, dest: Destination): S3Client {
  const bag = env as Record<string, unknown>;
  const accessKeyId = bag[accessKeySecret(dest.name)];
  const secretAccessKey = bag[secretKeySecret(dest.name)];
  if (typeof accessKeyId !== "string" || !accessKeyId || typeof secretAccessKey !== "string" || !secretAccessKey) {
    throw new PgsealError("CONFIG_INVALID", `missing secrets for destination '${dest.name}': ${accessKeySecret(dest.name)}, ${secretKeySecret(dest.name)} (wrangler secret put <NAME>)`);
  }
  return new S3Client(
    { endpoint: dest.endpoint, bucket: dest.bucket, region: dest.region, accessKeyId, secretAccessKey, ...(dest.pathStyle === undefined ? {} : { pathStyle: dest.pathStyle }) },
    workersHashing,
  );
}
