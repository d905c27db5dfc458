// The Cron Trigger's job: every configured database's Durable Object has its alarm set; it never starts a backup itself.
import { loadConfig } from "./config.ts";
import type { ArmReport } from "./do/rpc-types.ts";
import { backupsStub } from "./do/stubs.ts";
import { mapLimit } from "./map-limit.ts";

/** 25 RPCs in flight at once: 200 databases take 8 rounds, far inside one invocation's subrequest budget. */
export const WATCHDOG_CONCURRENCY = 25;

export interface WatchdogReport {
  databases: number;
  actions: Record<ArmReport["action"], number>;
  errors: { db: string; message: string }[];
  /** One per database that answered, in config order. */
  reports: ArmReport[];
}

export async function runWatchdog(env: Env): Promise<WatchdogReport> {
  const names = Object.keys(loadConfig(env).config.databases);
  const report: WatchdogReport = { databases: names.length, actions: { armed: 0, rearmed: 0, ok: 0, idle: 0 }, errors: [], reports: [] };
  const answers = await mapLimit(names, WATCHDOG_CONCURRENCY, async (db) => {
    try {
      return await backupsStub(env, db).ensureArmed();
    } catch (e) {
      report.errors.push({ db, message: e instanceof Error ? e.message : String(e) });
      return null;
    }
  });
  for (const r of answers) {
    if (!r) continue;
    report.actions[r.action]++;
    report.reports.push(r);
  }
  return report;
}
