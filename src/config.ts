// The Worker's configuration: PGSEAL_CONFIG (wrangler vars) and the secrets it implies, validated once per isolate, every problem by path.
import type { Compression } from "./shared/catalog/artifact-keys.ts";
import { PgsealError } from "./shared/errors.ts";
import { parseKeyring } from "./shared/format/keyring.ts";
import { parseRecipient } from "./shared/format/recipient.ts";
import { DEFAULT_RETENTION, parseRetentionPolicy, type RetentionPolicy } from "./shared/catalog/retention.ts";
import { nextRun, parseCron, type CronSchedule } from "./schedule/cron.ts";
import { adminTokenProblem, JOB_LIMIT_DEFAULTS, JOB_LIMIT_MAX } from "./config-limits.ts";
import { DRILL_MODES, type DrillMode } from "./shared/contract/streamer-job.ts";
import { accessKeySecret, databaseUrlSecret, drillScratchSecret, RECIPIENT_SECRET, secretKeySecret, secretSuffix, secretValue } from "./config-secrets.ts";
export { accessKeySecret, databaseUrlSecret, drillScratchSecret, readJobSecrets, RECIPIENT_SECRET, secretKeySecret, secretSuffix, type JobSecrets } from "./config-secrets.ts";
import { endpointProblems, parseObjectLock } from "./shared/s3/destination-checks.ts";
export { adminTokenProblem, JOB_LIMIT_DEFAULTS };

export const DEFAULT_MAX_CONCURRENT_JOBS = 20;
const MAX_CONCURRENT_JOBS_LIMIT = 1000;
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const NAME_RULE = "1-63 letters, digits, '_' or '-', starting with a letter or digit";

export interface Destination {
  name: string;
  endpoint: string;
  bucket: string;
  region: string;
  prefix: string;
  pathStyle?: boolean;
  /** S3/B2 object lock on every artifact; R2 uses bucket lock rules instead (README). */
  objectLock?: { mode: "GOVERNANCE" | "COMPLIANCE"; days: number };
}

export interface DatabaseEntry {
  name: string;
  schedule: string;
  cron: CronSchedule;
  destination: string;
  compression: Compression;
  /** false turns the schedule off; manual backups still run. */
  enabled: boolean;
  /** Restore drill after each upload: a throwaway cluster in the container (default), a scratch server, or none (never sealed). */
  drill: DrillMode;
  /** Alert when no sealed backup is newer than this (falls back to alerts.maxAgeHours); null: never. */
  maxAgeHours: number | null;
  /** GFS retention over sealed backups; pruning runs after each sealed backup (src/shared/catalog/retention.ts). */
  retention: RetentionPolicy;
  /** Further destinations written in the same pass as `destination` (config `destinations`, after the first). */
  copies: string[];
  /** Bounds that make every job end (docs/JOBS.md, "Every job ends"): pg_dump's table lock wait, no progress, total run time. */
  lockWaitTimeoutSeconds: number;
  stallTimeoutMinutes: number;
  maxRunHours: number;
}

export { DRILL_MODES, type DrillMode };

export interface PgsealConfig {
  destinations: Record<string, Destination>;
  databases: Record<string, DatabaseEntry>;
  maxConcurrentJobs: number;
  /** Webhook (secret ALERT_WEBHOOK_URL) on failures always; on success only when asked. */
  alerts: { onSuccess: boolean };
  /** Cloudflare Access in front of the dashboard: its JWT signs a user in (src/dashboard/access.ts). */
  access: { teamDomain: string; aud: string } | null;
}

const MAX_AGE_HOURS_LIMIT = 24 * 366;

export interface ConfigProblem {
  path: string;
  message: string;
}

export interface ValidatedConfig {
  /** Only the entries that validated; a database with a bad field is left out, never half-used. */
  config: PgsealConfig;
  problems: ConfigProblem[];
}

type Bag = Record<string, unknown>;
const isObject = (v: unknown): v is Bag => typeof v === "object" && v !== null && !Array.isArray(v);
const envBag = (env: object) => env as Bag;

class Problems {
  readonly list: ConfigProblem[] = [];
  add(path: string, message: string): void {
    this.list.push({ path, message });
  }
  unknownKeys(path: string, value: Bag, known: readonly string[]): void {
    for (const k of Object.keys(value)) if (!known.includes(k)) this.add(path ? `${path}.${k}` : k, `unknown field (known: ${known.join(", ")})`);
  }
}

function readRaw(env: object, p: Problems): Bag | undefined {
  const raw = envBag(env).PGSEAL_CONFIG;
  if (raw === undefined || raw === "") {
    p.add("PGSEAL_CONFIG", "missing: set vars.PGSEAL_CONFIG in wrangler.jsonc");
    return undefined;
  }
  let value: unknown = raw;
  // Wrangler passes an object var as an object, but a var set elsewhere arrives as JSON text.
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch (e) {
      p.add("PGSEAL_CONFIG", `not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }
  if (!isObject(value)) {
    p.add("PGSEAL_CONFIG", "must be an object with 'destinations' and 'databases'");
    return undefined;
  }
  return value;
}

function optionalString(p: Problems, path: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") p.add(path, "must be a string");
  return typeof v === "string" ? v : undefined;
}

function requiredString(p: Problems, path: string, v: unknown): string | undefined {
  if (v === undefined || v === "") {
    p.add(path, "required");
    return undefined;
  }
  return optionalString(p, path, v);
}

function optionalBoolean(p: Problems, path: string, v: unknown): boolean | undefined {
  if (v === undefined || typeof v === "boolean") return v;
  p.add(path, "must be true or false");
  return undefined;
}

function checkEndpoint(p: Problems, path: string, endpoint: string): boolean {
  const problems = endpointProblems(endpoint);
  for (const m of problems) p.add(path, m);
  return problems.length === 0;
}

/**
 * Maps looked up by a name from a URL: without a prototype, `databases["constructor"]` or
 * `["valueOf"]` is undefined, not Object's method, so no route mistakes them for configured names.
 */
function nameMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function checkNames(p: Problems, section: string, entries: Bag): string[] {
  const ok: string[] = [];
  const bySuffix = new Map<string, string>();
  for (const name of Object.keys(entries)) {
    if (!NAME_RE.test(name)) {
      p.add(`${section}.${name}`, `name must be ${NAME_RULE}`);
      continue;
    }
    const other = bySuffix.get(secretSuffix(name));
    if (other !== undefined) {
      p.add(`${section}.${name}`, `clashes with '${other}': both use the secret suffix ${secretSuffix(name)}`);
      continue;
    }
    bySuffix.set(secretSuffix(name), name);
    if (!isObject(entries[name])) {
      p.add(`${section}.${name}`, "must be an object");
      continue;
    }
    ok.push(name);
  }
  return ok;
}

function readDestinations(p: Problems, raw: unknown, env: object): Record<string, Destination> {
  const out: Record<string, Destination> = nameMap();
  if (!isObject(raw)) {
    p.add("destinations", raw === undefined ? "required: at least one destination" : "must be an object of named destinations");
    return out;
  }
  for (const name of checkNames(p, "destinations", raw)) {
    const v = raw[name] as Bag;
    const path = `destinations.${name}`;
    const before = p.list.length;
    p.unknownKeys(path, v, ["endpoint", "bucket", "region", "prefix", "pathStyle", "objectLock"]);
    const endpoint = requiredString(p, `${path}.endpoint`, v.endpoint);
    if (endpoint !== undefined) checkEndpoint(p, `${path}.endpoint`, endpoint);
    const bucket = requiredString(p, `${path}.bucket`, v.bucket);
    const region = optionalString(p, `${path}.region`, v.region) ?? "auto";
    const prefix = optionalString(p, `${path}.prefix`, v.prefix) ?? "";
    if (prefix.split("/").some((s) => s === "." || s === "..")) p.add(`${path}.prefix`, "must not contain '.' or '..' segments");
    const pathStyle = optionalBoolean(p, `${path}.pathStyle`, v.pathStyle);
    let objectLock: Destination["objectLock"];
    if (v.objectLock !== undefined) {
      const parsed = parseObjectLock(v.objectLock);
      if ("problem" in parsed) p.add(`${path}.objectLock`, parsed.problem);
      else objectLock = parsed.lock;
      if (endpoint && /\.r2\.cloudflarestorage\.com/i.test(endpoint)) p.add(`${path}.objectLock`, "R2 has no per-object lock: use an R2 bucket lock rule instead (README, 'Immutability')");
    }
    for (const secret of [accessKeySecret(name), secretKeySecret(name)]) {
      if (secretValue(env, secret) === undefined) p.add(`secrets.${secret}`, `missing secret for destination '${name}': wrangler secret put ${secret}`);
    }
    const fieldProblems = p.list.slice(before).filter((x) => !x.path.startsWith("secrets."));
    if (fieldProblems.length === 0 && endpoint && bucket)
      out[name] = { name, endpoint, bucket, region, prefix, ...(pathStyle === undefined ? {} : { pathStyle }), ...(objectLock ? { objectLock } : {}) };
  }
  return out;
}

function optionalHours(p: Problems, path: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "number" && Number.isFinite(v) && v > 0 && v <= MAX_AGE_HOURS_LIMIT) return v;
  p.add(path, `must be a number of hours, more than 0 and at most ${MAX_AGE_HOURS_LIMIT}`);
  return undefined;
}

function jobLimit(p: Problems, path: string, v: Bag, key: keyof typeof JOB_LIMIT_DEFAULTS): number {
  const x = v[key];
  if (x === undefined) return JOB_LIMIT_DEFAULTS[key];
  if (typeof x === "number" && Number.isFinite(x) && x > 0 && x <= JOB_LIMIT_MAX[key]) return x;
  p.add(`${path}.${key}`, `must be a number more than 0 and at most ${JOB_LIMIT_MAX[key]} (default ${JOB_LIMIT_DEFAULTS[key]})`);
  return JOB_LIMIT_DEFAULTS[key];
}

function readDatabases(p: Problems, raw: unknown, destinations: Bag, env: object, defaultMaxAge: number | undefined): Record<string, DatabaseEntry> {
  const out: Record<string, DatabaseEntry> = nameMap();
  if (!isObject(raw)) {
    p.add("databases", raw === undefined ? "required: an object of named databases" : "must be an object of named databases");
    return out;
  }
  for (const name of checkNames(p, "databases", raw)) {
    const v = raw[name] as Bag;
    const path = `databases.${name}`;
    const before = p.list.length;
    p.unknownKeys(path, v, ["schedule", "destination", "destinations", "compression", "enabled", "drill", "maxAgeHours", "retention", "lockWaitTimeoutSeconds", "stallTimeoutMinutes", "maxRunHours"]);
    let retention = DEFAULT_RETENTION;
    if (v.retention !== undefined) {
      const parsed = parseRetentionPolicy(v.retention, `${path}.retention`);
      for (const problem of parsed.problems) p.add(problem.path, problem.message);
      retention = parsed.policy;
    }
    const schedule = requiredString(p, `${path}.schedule`, v.schedule);
    let cron: CronSchedule | undefined;
    if (schedule !== undefined) {
      try {
        cron = parseCron(schedule);
        nextRun(cron, new Date()); // a schedule that never fires is a mistake, not a feature
      } catch (e) {
        p.add(`${path}.schedule`, e instanceof PgsealError ? e.message : String(e));
      }
    }
    // One destination, or several written in one pass ("destinations": the first is where drills read).
    let names: string[] = [];
    if (v.destinations !== undefined) {
      if (v.destination !== undefined) p.add(`${path}.destinations`, "use either 'destination' or 'destinations', not both");
      if (!Array.isArray(v.destinations) || v.destinations.length === 0 || !v.destinations.every((d) => typeof d === "string"))
        p.add(`${path}.destinations`, "must be a non-empty list of destination names");
      else if (new Set(v.destinations).size !== v.destinations.length) p.add(`${path}.destinations`, "names a destination twice");
      else names = v.destinations as string[];
    } else {
      const one = requiredString(p, `${path}.destination`, v.destination);
      if (one !== undefined) names = [one];
    }
    const field = v.destinations !== undefined ? "destinations" : "destination";
    for (const d of names) if (!Object.hasOwn(destinations, d)) p.add(`${path}.${field}`, `no destination named '${d}' (known: ${Object.keys(destinations).join(", ") || "none"})`);
    const destination = names[0];
    const compression = v.compression ?? "zstd";
    if (compression !== "zstd" && compression !== "gzip") p.add(`${path}.compression`, 'must be "zstd" or "gzip"');
    const enabled = optionalBoolean(p, `${path}.enabled`, v.enabled) ?? true;
    const maxAgeHours = optionalHours(p, `${path}.maxAgeHours`, v.maxAgeHours) ?? defaultMaxAge ?? null;
    const lockWaitTimeoutSeconds = jobLimit(p, path, v, "lockWaitTimeoutSeconds");
    const stallTimeoutMinutes = jobLimit(p, path, v, "stallTimeoutMinutes");
    const maxRunHours = jobLimit(p, path, v, "maxRunHours");
    const drill = v.drill ?? "local";
    if (!(DRILL_MODES as readonly unknown[]).includes(drill)) p.add(`${path}.drill`, `must be one of ${DRILL_MODES.map((m) => `"${m}"`).join(", ")}`);
    else if (drill === "scratch") {
      const scratch = secretValue(env, drillScratchSecret(name));
      if (scratch === undefined) p.add(`secrets.${drillScratchSecret(name)}`, `missing secret for the scratch drill of '${name}': wrangler secret put ${drillScratchSecret(name)}`);
      else if (!/^postgres(ql)?:\/\//.test(scratch)) p.add(`secrets.${drillScratchSecret(name)}`, "must be a postgres:// or postgresql:// URL");
    }
    const urlSecret = databaseUrlSecret(name);
    const url = secretValue(env, urlSecret);
    if (url === undefined) p.add(`secrets.${urlSecret}`, `missing secret for database '${name}': wrangler secret put ${urlSecret}`);
    else if (!/^postgres(ql)?:\/\//.test(url)) p.add(`secrets.${urlSecret}`, "must be a postgres:// or postgresql:// URL");
    // Missing secrets are reported above but do not drop the database: its jobs fail with CONFIG_INVALID, visibly.
    const fieldProblems = p.list.slice(before).filter((x) => !x.path.startsWith("secrets."));
    if (fieldProblems.length === 0 && schedule && cron && destination) {
      out[name] = {
        name,
        schedule,
        cron,
        destination,
        compression: compression as Compression,
        enabled,
        drill: drill as DrillMode,
        maxAgeHours,
        retention,
        copies: names.slice(1),
        lockWaitTimeoutSeconds,
        stallTimeoutMinutes,
        maxRunHours,
      };
    }
  }
  return out;
}

export function validateConfig(env: object): ValidatedConfig {
  const p = new Problems();
  const config: PgsealConfig = { destinations: nameMap(), databases: nameMap(), maxConcurrentJobs: DEFAULT_MAX_CONCURRENT_JOBS, alerts: { onSuccess: false }, access: null };
  const raw = readRaw(env, p);
  if (raw) {
    p.unknownKeys("", raw, ["destinations", "databases", "maxConcurrentJobs", "alerts", "access"]);
    if (raw.access !== undefined) {
      const a = raw.access;
      if (!isObject(a)) p.add("access", 'must be {"teamDomain": "https://<team>.cloudflareaccess.com", "aud": "<application AUD tag>"}');
      else {
        p.unknownKeys("access", a, ["teamDomain", "aud"]);
        const teamDomain = requiredString(p, "access.teamDomain", a.teamDomain);
        const aud = requiredString(p, "access.aud", a.aud);
        let ok = Boolean(teamDomain && aud);
        if (teamDomain) {
          try {
            const u = new URL(teamDomain);
            // http only for a local stand-in (tests): the real team domain is https.
            if (u.protocol !== "https:" && u.hostname !== "127.0.0.1" && u.hostname !== "localhost") throw new Error();
          } catch {
            p.add("access.teamDomain", "must be https://<team>.cloudflareaccess.com");
            ok = false;
          }
        }
        if (ok) config.access = { teamDomain: teamDomain!.replace(/\/$/, ""), aud: aud! };
      }
    }
    let defaultMaxAge: number | undefined;
    if (raw.alerts !== undefined) {
      if (!isObject(raw.alerts)) p.add("alerts", 'must be an object like {"onSuccess": false, "maxAgeHours": 36}');
      else {
        p.unknownKeys("alerts", raw.alerts, ["onSuccess", "maxAgeHours"]);
        config.alerts.onSuccess = optionalBoolean(p, "alerts.onSuccess", raw.alerts.onSuccess) ?? false;
        defaultMaxAge = optionalHours(p, "alerts.maxAgeHours", raw.alerts.maxAgeHours);
      }
    }
    const destRaw = isObject(raw.destinations) ? raw.destinations : {};
    config.destinations = readDestinations(p, raw.destinations, env);
    config.databases = readDatabases(p, raw.databases, destRaw, env, defaultMaxAge);
    const max = raw.maxConcurrentJobs;
    if (max !== undefined) {
      if (typeof max === "number" && Number.isInteger(max) && max >= 1 && max <= MAX_CONCURRENT_JOBS_LIMIT) config.maxConcurrentJobs = max;
      else p.add("maxConcurrentJobs", `must be a whole number from 1 to ${MAX_CONCURRENT_JOBS_LIMIT}`);
    }
    // A database whose destination was dropped for its own problems cannot run either.
    for (const [name, db] of Object.entries(config.databases)) {
      if (![db.destination, ...db.copies].every((d) => config.destinations[d])) delete config.databases[name];
    }
  }
  const keyring = secretValue(env, "PGSEAL_KEYRING");
  const recipient = secretValue(env, RECIPIENT_SECRET);
  if (recipient !== undefined) {
    // Key custody: the deployment writes backups it cannot read; it must not hold a keyring too.
    if (keyring !== undefined) p.add("secrets.PGSEAL_KEYRING", `set either PGSEAL_KEYRING or ${RECIPIENT_SECRET} (key custody), not both: wrangler secret delete one of them`);
    try {
      parseRecipient(recipient);
    } catch (e) {
      p.add(`secrets.${RECIPIENT_SECRET}`, e instanceof PgsealError ? e.message : "not a valid recipient public key");
    }
  } else if (keyring === undefined)
    p.add(
      "secrets.PGSEAL_KEYRING",
      `missing: create one with 'npx pgseal keygen', then wrangler secret put PGSEAL_KEYRING (or, for key custody, ${RECIPIENT_SECRET} from 'npx pgseal keygen --public')`,
    );
  else {
    try {
      parseKeyring(keyring);
    } catch (e) {
      // parseKeyring's messages name entries and ids, never key bytes.
      p.add("secrets.PGSEAL_KEYRING", e instanceof PgsealError ? e.message : "not a valid keyring");
    }
  }
  const admin = envBag(env).ADMIN_TOKEN;
  if (typeof admin !== "string" || admin === "") p.add("secrets.ADMIN_TOKEN", "missing: the admin API refuses every request until wrangler secret put ADMIN_TOKEN");
  else {
    const weak = adminTokenProblem(admin);
    if (weak) p.add("secrets.ADMIN_TOKEN", `${weak}; the admin API and dashboard stay closed until it is replaced`);
  }
  return { config, problems: p.list };
}

const cache = new WeakMap<object, ValidatedConfig>();

/** validateConfig, once per env object (one per isolate in production). */
export function loadConfig(env: object): ValidatedConfig {
  let v = cache.get(env);
  if (!v) {
    v = validateConfig(env);
    cache.set(env, v);
  }
  return v;
}
