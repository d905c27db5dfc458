// Test projects: "unit" is pure code with no global setup (`npm run test:unit`, seconds); "node" runs
// against real PostgreSQL and a real Swift s3api server; "node-pg<N>" runs
// the PostgreSQL-facing files again with servers and tools of another major (the matrix, README:
// testing); "workers" runs the Worker and the shared code inside workerd against the same real parts.
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { matrixMajors } from "./scripts/pg-majors.ts";
import { createUniqueBucket } from "./test/harness/buckets.ts";

/** Pure tests: no server, no process, no global setup. Kept out of every other project. */
const UNIT_FILES = [
  "src/shared/**/*.test.ts",
  "src/schedule/**/*.test.ts",
  "src/report/**/*.test.ts",
  "src/config.test.ts",
  "src/alerts.test.ts",
  "src/metrics.test.ts",
  "test/binding.test.ts",
  "test/errors-doc.test.ts",
  "test/format-v2.test.ts",
  "test/row-scan.test.ts",
];
/** What differs between PostgreSQL majors: dump and restore, the archive's inventory, drills, the Worker's jobs end to end. */
const MATRIX_FILES = ["test/dump-inventory.test.ts", "test/e2e-cli.test.ts", "test/drill.test.ts", "test/content-drill.test.ts", "test/e2e-worker.test.ts"];
const NODE = {
  environment: "node",
  // One Swift per project; tests reach it through useS3() (test/harness/s3.ts).
  globalSetup: ["test/global-setup.ts"],
  // PGSEAL_TEST_PG=<major> selects the servers and tools of a run (test/harness/pg-major.ts).
  setupFiles: ["test/harness/pg-major-setup.ts"],
  testTimeout: 120_000,
  hookTimeout: 120_000,
} as const;

export default defineConfig({
  test: {
    reporters: ["default", "./test/harness/project-times.ts"],
    projects: [
      { test: { name: "unit", include: UNIT_FILES, environment: "node" } },
      {
        test: {
          name: "node",
          include: ["test/**/*.test.ts", "container/**/*.test.ts", "cli/**/*.test.ts"],
          exclude: ["test/worker/**", ...UNIT_FILES],
          ...NODE,
        },
      },
      ...matrixMajors().map((major) => ({ test: { name: `node-pg${major}`, include: MATRIX_FILES, env: { PGSEAL_TEST_PG: String(major) }, ...NODE } })),
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
          exclude: UNIT_FILES,
          // Swift, PostgreSQL and the real streamer for the Worker's tests.
          globalSetup: ["test/worker-global-setup.ts"],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
