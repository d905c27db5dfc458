// Starts one Swift (S3) server per test run and hands its credentials to tests via provide/inject.
import type { TestProject } from "vitest/node";
import { startS3 } from "./harness/s3.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const s3 = await startS3();
  project.provide("s3", { endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
  return () => s3.stop();
}
