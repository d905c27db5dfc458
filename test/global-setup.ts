// Starts one Swift (S3) server per test run and hands its credentials to tests via provide/inject; fails the run if a test leaves a temp dir.
import type { TestProject } from "vitest/node";
import { startS3 } from "./harness/s3.ts";
import { isolateTempDirs } from "./harness/temp-dirs.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const checkTempDirs = isolateTempDirs();
  const s3 = await startS3();
  project.provide("s3", { endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
  return async () => {
    await s3.stop();
    checkTempDirs();
  };
}
