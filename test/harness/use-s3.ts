// Inside tests: the Swift that test/global-setup.ts started for this run (vitest provide/inject).
// Kept apart from s3.ts because globalSetup and the vitest config cannot import "vitest".
import { inject } from "vitest";
import type { S3Target } from "../../src/shared/s3/s3.ts";
import { createUniqueBucket, type S3Credentials } from "./buckets.ts";

declare module "vitest" {
  interface ProvidedContext {
    s3: S3Credentials;
  }
}

/** The run's S3 server, with createBucket making a bucket name unique to this run. */
export function useS3(): S3Credentials & { createBucket(prefix: string): Promise<string> } {
  const creds = inject("s3");
  if (!creds) throw new Error("no S3 server provided: is test/global-setup.ts wired as globalSetup in vitest.config.ts?");
  return { ...creds, createBucket: (prefix) => createUniqueBucket(creds, prefix) };
}

/** A fresh bucket on the run's Swift, as an S3 target. */
export async function freshBucket(name: string): Promise<S3Target> {
  const s3 = useS3();
  return { endpoint: s3.endpoint, bucket: await s3.createBucket(name), region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
}
