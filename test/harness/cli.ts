// Runs the `pgseal` CLI as a real child process, the way a user does.
import { execFile } from "node:child_process";
import type { S3Target } from "../../src/shared/s3/s3.ts";

const BIN = new URL("../../bin/pgseal.mjs", import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function pgseal(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The environment the CLI reads its bucket, credentials and keyring from (README: settings). */
export function pgsealEnv(target: S3Target, keyring: string): Record<string, string> {
  return {
    PGSEAL_S3_ENDPOINT: target.endpoint,
    PGSEAL_S3_BUCKET: target.bucket,
    PGSEAL_S3_REGION: target.region,
    PGSEAL_S3_ACCESS_KEY_ID: target.accessKeyId,
    PGSEAL_S3_SECRET_ACCESS_KEY: target.secretAccessKey,
    PGSEAL_KEYRING: keyring,
  };
}
