// Vitest setup file: with PGSEAL_TEST_PG set, every tool of this test process and of the processes it starts (the CLI, the streamer) comes from that major.
import { pgBinDir, testPgMajor } from "./pg-major.ts";

// They all find their tools through PGSEAL_PG_BIN; PGSEAL_TEST_PG wins over one set outside.
const major = testPgMajor();
if (major !== undefined) process.env.PGSEAL_PG_BIN = pgBinDir(major);
