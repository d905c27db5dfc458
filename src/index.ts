// The Worker entry: the admin API, the cron watchdog, and the Durable Object classes wrangler.jsonc binds.
import { app } from "./api/app.ts";
import { runWatchdog } from "./watchdog.ts";

export { DatabaseBackups } from "./do/database-backups.ts";
export { JobSlots } from "./do/job-slots.ts";
export { PgDumpContainer } from "./do/pg-dump-container.ts";

export default {
  fetch: app.fetch,
  async scheduled(_controller, env) {
    const { reports: _, ...summary } = await runWatchdog(env);
    console.log(JSON.stringify({ watchdog: summary }));
  },
} satisfies ExportedHandler<Env>;
