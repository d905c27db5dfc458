// When a database's scheduled backup fires: its cron time plus a stable per-database jitter.
import { nextRun, type CronSchedule } from "./cron.ts";

/** Identical schedules on many databases spread over this window instead of starting in one second. */
export const JITTER_MAX_MS = 5 * 60_000;
const JITTER_STEP_MS = 1_000;

/** FNV-1a of the name, in whole seconds from 0 to JITTER_MAX_MS: the same name always gets the same delay. */
export function jitterMs(name: string, maxMs = JITTER_MAX_MS): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(name)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h % (Math.floor(maxMs / JITTER_STEP_MS) + 1)) * JITTER_STEP_MS;
}

/**
 * The next fire time strictly after `nowMs`. Searching from `now - jitter` keeps the cron cadence
 * (a run that fired late by its jitter is not counted again) and makes a long outage yield ONE
 * run at the next due time, never one per missed slot.
 */
export function nextFireAt(schedule: CronSchedule | string, name: string, nowMs: number): number {
  const jitter = jitterMs(name);
  return nextRun(schedule, new Date(nowMs - jitter)).getTime() + jitter;
}
