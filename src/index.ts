// The Worker entry: the admin API, the cron watchdog, and the Durable Object classes wrangler.jsonc binds.
import { app } from "./api/app.ts";
import { storeMonthlyReport } from "./report/monthly.ts";
import { runWatchdog } from "./watchdog.ts";

export { DatabaseBackups } from "./do/database-backups.ts";
export { JobSlots } from "./do/job-slots.ts";
export { PgDumpContainer } from "./do/pg-dump-container.ts";

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    const { reports: _, ...summary } = await runWatchdog(env);
    console.log(JSON.stringify({ watchdog: summary }));
    try {
      const stored = await storeMonthlyReport(env, new Date(controller.scheduledTime));
      if (stored?.stored.length) console.log(JSON.stringify({ monthlyReport: stored }));
    } catch (e) {
      // The next tick tries again: nothing was marked done.
      console.error(`pgseal: storing the monthly report failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  },
} satisfies ExportedHandler<Env>;
