// The names of a deployment's secrets, and reading them at the moment a job starts (they are never stored).
import type { DatabaseEntry } from "./config.ts";
import { PgsealError } from "./shared/errors.ts";

/** Upper-cased, '-' → '_': the suffix of a database's or destination's secret names. */
export function secretSuffix(name: string): string {
  return name.toUpperCase().replace(/-/g, "_");
}
export const databaseUrlSecret = (db: string) => `DATABASE_URL_${secretSuffix(db)}`;
export const accessKeySecret = (dest: string) => `S3_ACCESS_KEY_ID_${secretSuffix(dest)}`;
export const secretKeySecret = (dest: string) => `S3_SECRET_ACCESS_KEY_${secretSuffix(dest)}`;
export const drillScratchSecret = (db: string) => `DRILL_SCRATCH_URL_${secretSuffix(db)}`;
/** Key custody mode: the public half of `pgseal keygen --public`; the deployment then cannot decrypt its backups. */
export const RECIPIENT_SECRET = "PGSEAL_RECIPIENT";

/** A secret's value, or undefined when it is unset or empty. */
export function secretValue(env: object, name: string): string | undefined {
  const v = (env as Record<string, unknown>)[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

export interface JobSecrets {
  databaseUrl: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Exactly one of keyring and recipient (key custody). */
  keyring?: string;
  recipient?: string;
  drillScratchUrl?: string;
  /** Credentials of each further destination, by name. */
  copies: Record<string, { accessKeyId: string; secretAccessKey: string }>;
}

/** Reads a database's secrets at the moment a job starts (they are never stored); names what is missing. */
export function readJobSecrets(env: object, db: DatabaseEntry): JobSecrets {
  const names = {
    databaseUrl: databaseUrlSecret(db.name),
    accessKeyId: accessKeySecret(db.destination),
    secretAccessKey: secretKeySecret(db.destination),
    ...(secretValue(env, RECIPIENT_SECRET) !== undefined ? { recipient: RECIPIENT_SECRET } : { keyring: "PGSEAL_KEYRING" }),
  };
  const values = Object.fromEntries(Object.entries(names).map(([k, n]) => [k, secretValue(env, n)]));
  const missing = Object.entries(names)
    .filter(([k]) => values[k] === undefined)
    .map(([, n]) => n);
  if (db.drill === "scratch" && secretValue(env, drillScratchSecret(db.name)) === undefined) missing.push(drillScratchSecret(db.name));
  for (const d of db.copies) for (const n of [accessKeySecret(d), secretKeySecret(d)]) if (secretValue(env, n) === undefined) missing.push(n);
  if (missing.length > 0) throw new PgsealError("CONFIG_INVALID", `missing secrets: ${missing.join(", ")} (wrangler secret put <NAME>)`);
  const secrets = { ...(values as unknown as Omit<JobSecrets, "copies">), copies: {} } as JobSecrets;
  for (const d of db.copies) secrets.copies[d] = { accessKeyId: secretValue(env, accessKeySecret(d))!, secretAccessKey: secretValue(env, secretKeySecret(d))! };
  if (db.drill === "scratch") secrets.drillScratchUrl = secretValue(env, drillScratchSecret(db.name));
  return secrets;
}
