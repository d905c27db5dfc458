// The one place that turns a database name into its Durable Object stubs.
import { JOB_SLOTS_NAME } from "./job-slots.ts";

export const backupsStub = (env: Env, db: string) => env.DATABASE_BACKUPS.get(env.DATABASE_BACKUPS.idFromName(db));
export const containerStub = (env: Env, db: string) => env.PG_DUMP_CONTAINER.get(env.PG_DUMP_CONTAINER.idFromName(db));
export const slotsStub = (env: Env) => env.JOB_SLOTS.get(env.JOB_SLOTS.idFromName(JOB_SLOTS_NAME));
