// The Restore Drill Report for a month: gathered from every database's Durable Object, and stored in the bucket on the 1st.
import { loadConfig } from "../config.ts";
import { destinationClient } from "../destination-client.ts";
import { backupsStub } from "../do/stubs.ts";
import { mapLimit } from "../map-limit.ts";
import { reportKeys } from "../shared/catalog/artifact-keys.ts";
import { renderReportHtml } from "./render-html.ts";
import { buildReport, monthRange, type DrillReport } from "./report.ts";

const GATHER_CONCURRENCY = 25;

export function previousMonth(now: Date): string {
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

export async function gatherReport(env: Env, month: string, now = new Date()): Promise<DrillReport> {
  const { start, end } = monthRange(month);
  const { databases } = loadConfig(env).config;
  const rows = await mapLimit(Object.values(databases), GATHER_CONCURRENCY, async (entry) => ({
    db: entry.name,
    schedule: entry.schedule,
    jobs: await backupsStub(env, entry.name).reportJobs(Date.parse(start), Date.parse(end)),
  }));
  return buildReport({ month, generatedAt: now.toISOString(), databases: rows });
}

/**
 * Writes reports/<month>.html and .json to every destination some database uses, unless it is there
 * already: the cron runs every few minutes on the 1st, and the first run that gets through wins.
 */
export async function storeMonthlyReport(env: Env, now = new Date()): Promise<{ month: string; stored: string[] } | null> {
  if (now.getUTCDate() !== 1) return null;
  const month = previousMonth(now);
  const { config } = loadConfig(env);
  const used = new Set(Object.values(config.databases).flatMap((d) => [d.destination, ...d.copies]));
  const stored: string[] = [];
  let report: DrillReport | undefined;
  for (const name of used) {
    const dest = config.destinations[name];
    if (!dest) continue;
    const client = destinationClient(env, dest);
    const keys = reportKeys(dest.prefix, month);
    if (await client.head(keys.json)) continue;
    report ??= await gatherReport(env, month, now);
    await client.put(keys.html, renderReportHtml(report), { contentType: "text/html; charset=utf-8" });
    // JSON last: its presence is what marks the month as done.
    await client.put(keys.json, JSON.stringify(report, null, 2) + "\n", { contentType: "application/json" });
    stored.push(`${name}:${keys.json}`);
  }
  return { month, stored };
}
