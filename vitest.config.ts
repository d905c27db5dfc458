// Test projects: "node" runs against real PostgreSQL and a real Swift s3api server; "workers" runs
// the Worker and the shared code inside workerd (the Workers runtime) against the same real parts.
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { createUniqueBucket } from "./test/harness/buckets.ts";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "node",
          include: ["test/**/*.test.ts", "src/shared/**/*.test.ts", "container/**/*.test.ts", "cli/**/*.test.ts"],
          exclude: ["test/worker/**"],
          environment: "node",
          // One Swift for the whole run; tests reach it through useS3() (test/harness/s3.ts).
          globalSetup: ["test/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        plugins: [
          cloudflareTest(async ({ inject }) => {
            const s3 = inject("s3");
            const bucket = await createUniqueBucket(s3, "workerd");
            return {
              wrangler: { configPath: "./wrangler.jsonc" },
              // The Worker's config, secrets and STREAMER_URL come from test/worker-global-setup.ts.
              miniflare: { bindings: { ...inject("workerBindings"), TEST_S3: JSON.stringify({ ...s3, bucket }) } },
            };
          }),
        ],
        test: {
          name: "workers",
          include: ["test/worker/**/*.test.ts", "src/**/*.test.ts"],
          exclude: ["src/shared/**"],
          // Swift, PostgreSQL and the real streamer for the Worker's tests.
          globalSetup: ["test/worker-global-setup.ts"],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
