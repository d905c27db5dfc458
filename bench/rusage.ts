// Preloaded into the measured pgseal process (node --import): writes its own CPU time and peak RSS on exit.
import { writeFileSync } from "node:fs";

const out = process.env.PGSEAL_BENCH_RUSAGE;
if (out) {
  process.on("exit", () => {
    const r = process.resourceUsage();
    writeFileSync(out, JSON.stringify({ maxRssKiB: r.maxRSS, userUs: r.userCPUTime, systemUs: r.systemCPUTime }));
  });
}
