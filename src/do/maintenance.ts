// What DatabaseBackups does for its database besides running jobs: pruning in every destination after a seal, and the stale-backup alert.
import { ALERT_WEBHOOK_SECRET, alertMessage, deliver, staleDue } from "../alerts.ts";
import { loadConfig, type DatabaseEntry } from "../config.ts";
import { destinationClient } from "../destination-client.ts";
import { executePrune, planPrune, type PruneResult } from "../shared/catalog/prune.ts";
import type { JobStore } from "./job-store.ts";

export const META_LAST_STALE_ALERT = "last_stale_alert_ms";
export const META_LAST_PRUNE = "last_prune";

export interface MaintenanceContext {
  db: string;
  env: Env;
  store: JobStore;
  /** The database's configuration; undefined once it was removed from the config. */
  entry: DatabaseEntry | undefined;
}

/**
 * Applies the retention policy to the database's backups and aborts its stale multipart uploads,
 * in every destination (each holds its own copies and manifests). The outcome is kept for GET /databases.
 */
export async function pruneDatabase(ctx: MaintenanceContext, now: number): Promise<PruneResult | null> {
  const { entry } = ctx;
  if (!entry) return null;
  const result: PruneResult = { deleted: [], abortedUploads: 0, errors: [] };
  for (const name of [entry.destination, ...entry.copies]) {
    const dest = loadConfig(ctx.env).config.destinations[name];
    if (!dest) continue;
    try {
      const client = destinationClient(ctx.env, dest);
      const { plan, targets } = await planPrune(client, dest.prefix, ctx.db, entry.retention, new Date(now));
      const r = await executePrune(client, plan, targets);
      result.deleted.push(...r.deleted.map((k) => `${name}:${k}`));
      result.abortedUploads += r.abortedUploads;
      result.errors.push(...r.errors.map((e) => `${name}: ${e}`));
    } catch (e) {
      result.errors.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  ctx.store.setMeta(META_LAST_PRUNE, JSON.stringify({ at: new Date(now).toISOString(), ...result }));
  if (result.errors.length) console.warn(`pgseal: pruning ${ctx.db}: ${result.errors.join("; ")}`);
  return result;
}

/** From the watchdog's tick: an alert when no sealed backup is newer than the database's max age (at most once a day). */
export async function checkStale(ctx: MaintenanceContext, now: number): Promise<void> {
  const { entry, store } = ctx;
  const webhook = (ctx.env as unknown as Record<string, unknown>)[ALERT_WEBHOOK_SECRET];
  if (!entry?.maxAgeHours || typeof webhook !== "string" || webhook === "") return;
  const sealed = store.lastSealed();
  const first = store.first();
  const last = store.getMeta(META_LAST_STALE_ALERT);
  const maxAgeMs = entry.maxAgeHours * 3_600_000;
  if (!staleDue({ lastSealedMs: sealed?.updatedAt ?? null, firstJobMs: first?.createdAt ?? null, maxAgeMs, lastAlertMs: last === null ? null : Number(last), now })) return;
  store.setMeta(META_LAST_STALE_ALERT, String(now));
  const lastSealedAt = sealed ? new Date(sealed.updatedAt).toISOString() : null;
  await deliver(webhook, alertMessage({ event: "stale", db: ctx.db, at: new Date(now).toISOString(), lastSealedAt, maxAgeHours: entry.maxAgeHours }), "stale alert");
}
