// Test projects: "node" runs against real PostgreSQL and a real Swift s3api server.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "node",
          include: ["test/**/*.test.ts", "src/shared/**/*.test.ts", "container/**/*.test.ts", "cli/**/*.test.ts"],
          environment: "node",
          // One Swift for the whole run; tests reach it through useS3() (test/harness/s3.ts).
          globalSetup: ["test/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
