// validateConfig: what a good PGSEAL_CONFIG yields, and every kind of problem reported by path, secrets by name only.
import { describe, expect, it } from "vitest";
import { databaseUrlSecret, readJobSecrets, secretSuffix, validateConfig } from "./config.ts";
import { generateKey } from "./shared/format/keyring.ts";

const KEYRING = generateKey("cfg").entry;
const SECRET_URL = "postgres://app:s3cr3t-pass@db.example.com/app";
const SECRET_S3 = "s3-secret-value-xyz";

const good = {
  destinations: {
    r2: { endpoint: "https://acct.r2.cloudflarestorage.com", bucket: "backups", prefix: "pgseal" },
    "b2-eu": { endpoint: "https://s3.eu-central-003.backblazeb2.com", bucket: "b", region: "eu-central-003", pathStyle: false },
  },
  databases: {
    app: { schedule: "0 3 * * *", destination: "r2" },
    "billing-db": { schedule: "*/30 * * * *", destination: "b2-eu", compression: "gzip", enabled: false },
  },
  maxConcurrentJobs: 5,
};

const secrets = {
  DATABASE_URL_APP: SECRET_URL,
  DATABASE_URL_BILLING_DB: SECRET_URL,
  S3_ACCESS_KEY_ID_R2: "ak",
  S3_SECRET_ACCESS_KEY_R2: SECRET_S3,
  S3_ACCESS_KEY_ID_B2_EU: "ak2",
  S3_SECRET_ACCESS_KEY_B2_EU: SECRET_S3,
  PGSEAL_KEYRING: KEYRING,
  ADMIN_TOKEN: "admin-token-0123456789",
};

const paths = (env: object) => validateConfig(env).problems.map((p) => p.path);

describe("validateConfig", () => {
  it("accepts a complete configuration, with defaults filled in", () => {
    const { config, problems } = validateConfig({ PGSEAL_CONFIG: good, ...secrets });
    expect(problems).toEqual([]);
    expect(config.maxConcurrentJobs).toBe(5);
    expect(config.destinations.r2).toEqual({ name: "r2", endpoint: "https://acct.r2.cloudflarestorage.com", bucket: "backups", region: "auto", prefix: "pgseal" });
    expect(config.destinations["b2-eu"].pathStyle).toBe(false);
    expect(config.databases.app).toMatchObject({ name: "app", schedule: "0 3 * * *", destination: "r2", compression: "zstd", enabled: true });
    expect(config.databases["billing-db"]).toMatchObject({ compression: "gzip", enabled: false });
  });

  it("bounds every job: lock wait, stall and run-time limits default per database and reject nonsense by path", () => {
    expect(validateConfig({ PGSEAL_CONFIG: good, ...secrets }).config.databases.app).toMatchObject({ lockWaitTimeoutSeconds: 600, stallTimeoutMinutes: 30, maxRunHours: 12 });
    const tuned = { ...good, databases: { ...good.databases, app: { schedule: "0 3 * * *", destination: "r2", lockWaitTimeoutSeconds: 5, stallTimeoutMinutes: 90, maxRunHours: 48 } } };
    expect(validateConfig({ PGSEAL_CONFIG: tuned, ...secrets }).config.databases.app).toMatchObject({ lockWaitTimeoutSeconds: 5, stallTimeoutMinutes: 90, maxRunHours: 48 });
    const bad = { ...good, databases: { ...good.databases, app: { schedule: "0 3 * * *", destination: "r2", lockWaitTimeoutSeconds: 0, stallTimeoutMinutes: "10", maxRunHours: 1000 } } };
    expect(paths({ PGSEAL_CONFIG: bad, ...secrets })).toEqual(["databases.app.lockWaitTimeoutSeconds", "databases.app.stallTimeoutMinutes", "databases.app.maxRunHours"]);
  });

  it("refuses a short, blank or repetitive ADMIN_TOKEN by path, without quoting it", () => {
    for (const weak of ["a", "   ", "aaaaaaaaaaaaaaaaaaaaaaaa", "password", " padded-token-0123456789 "]) {
      const { problems } = validateConfig({ PGSEAL_CONFIG: good, ...secrets, ADMIN_TOKEN: weak });
      const p = problems.find((x) => x.path === "secrets.ADMIN_TOKEN");
      expect(p, JSON.stringify(weak)).toBeDefined();
      if (weak.trim().length > 2) expect(p!.message).not.toContain(weak.trim());
    }
    expect(paths({ PGSEAL_CONFIG: good, ...secrets, ADMIN_TOKEN: "Zx8-f0a9Qm2LrT7vKp4W" })).not.toContain("secrets.ADMIN_TOKEN");
  });

  it("reads PGSEAL_CONFIG given as JSON text the same as an object", () => {
    const fromText = validateConfig({ PGSEAL_CONFIG: JSON.stringify(good), ...secrets });
    expect(fromText.problems).toEqual([]);
    expect(Object.keys(fromText.config.databases)).toEqual(["app", "billing-db"]);
  });

  it("names every bad field by its path, all at once", () => {
    const bad = {
      destinations: {
        r2: { endpoint: "ftp://x", bucket: "", prefix: "a/../b", pathStyle: "yes", colour: "blue" },
        ok: { endpoint: "https://user:pw@s3.example.com", bucket: "b" },
      },
      databases: {
        app: { schedule: "0 25 * * *", destination: "nowhere", compression: "lz4", enabled: "no" },
        "-bad": { schedule: "0 3 * * *", destination: "ok" },
        feb: { schedule: "0 0 30 2 *", destination: "ok" },
        nosched: { destination: "ok" },
      },
      maxConcurrentJobs: 0,
      extra: true,
    };
    expect(paths({ PGSEAL_CONFIG: bad, ...secrets }).filter((p) => !p.startsWith("secrets."))).toEqual([
      "extra",
      "destinations.r2.colour",
      "destinations.r2.endpoint",
      "destinations.r2.bucket",
      "destinations.r2.prefix",
      "destinations.r2.pathStyle",
      "destinations.ok.endpoint",
      "databases.-bad",
      "databases.app.schedule",
      "databases.app.destination",
      "databases.app.compression",
      "databases.app.enabled",
      "databases.feb.schedule",
      "databases.nosched.schedule",
      "maxConcurrentJobs",
    ]);
    const { problems, config } = validateConfig({ PGSEAL_CONFIG: bad, ...secrets });
    expect(problems.find((p) => p.path === "databases.app.schedule")?.message).toMatch(/hour 25 is outside 0-23/);
    expect(problems.find((p) => p.path === "databases.feb.schedule")?.message).toMatch(/never matches/);
    expect(problems.find((p) => p.path === "destinations.ok.endpoint")?.message).toMatch(/must not contain credentials/);
    // Nothing with a bad field is half-used.
    expect(config.databases).toEqual({});
    expect(Object.keys(config.destinations)).toEqual([]);
  });

  it("reports missing secrets by name, never by value, and keeps the database visible", () => {
    const { problems, config } = validateConfig({ PGSEAL_CONFIG: good, PGSEAL_KEYRING: KEYRING, S3_SECRET_ACCESS_KEY_R2: SECRET_S3 });
    expect(problems.map((p) => p.path).sort()).toEqual(
      [
        "secrets.ADMIN_TOKEN",
        "secrets.DATABASE_URL_APP",
        "secrets.DATABASE_URL_BILLING_DB",
        "secrets.S3_ACCESS_KEY_ID_B2_EU",
        "secrets.S3_ACCESS_KEY_ID_R2",
        "secrets.S3_SECRET_ACCESS_KEY_B2_EU",
      ].sort(),
    );
    expect(problems.find((p) => p.path === "secrets.DATABASE_URL_APP")?.message).toContain("wrangler secret put DATABASE_URL_APP");
    expect(Object.keys(config.databases)).toEqual(["app", "billing-db"]);
    expect(JSON.stringify(problems)).not.toContain(SECRET_S3);
    expect(JSON.stringify(problems)).not.toContain(KEYRING.split(":")[1]);
  });

  it("rejects a keyring or database URL that cannot work, without echoing either", () => {
    const { problems } = validateConfig({ PGSEAL_CONFIG: good, ...secrets, PGSEAL_KEYRING: "k1:bm90LTMyLWJ5dGVz", DATABASE_URL_APP: "mysql://u:hunter2@h/db" });
    expect(problems.map((p) => p.path)).toEqual(["secrets.DATABASE_URL_APP", "secrets.PGSEAL_KEYRING"]);
    expect(JSON.stringify(problems)).not.toContain("hunter2");
    expect(JSON.stringify(problems)).not.toContain("bm90LTMyLWJ5dGVz");
  });

  it("refuses two names that would share one secret name", () => {
    const clash = { ...good, databases: { "a-b": { schedule: "@daily", destination: "r2" }, a_b: { schedule: "@daily", destination: "r2" } } };
    const { problems, config } = validateConfig({ PGSEAL_CONFIG: clash, ...secrets, DATABASE_URL_A_B: SECRET_URL });
    expect(problems).toEqual([{ path: "databases.a_b", message: "clashes with 'a-b': both use the secret suffix A_B" }]);
    expect(Object.keys(config.databases)).toEqual(["a-b"]);
  });

  it("says what is wrong when PGSEAL_CONFIG is missing, not JSON, or not an object", () => {
    expect(validateConfig({ ...secrets }).problems[0]).toEqual({ path: "PGSEAL_CONFIG", message: "missing: set vars.PGSEAL_CONFIG in wrangler.jsonc" });
    expect(validateConfig({ PGSEAL_CONFIG: "{nope", ...secrets }).problems[0].message).toMatch(/^not valid JSON/);
    expect(validateConfig({ PGSEAL_CONFIG: [1], ...secrets }).problems[0].path).toBe("PGSEAL_CONFIG");
    expect(paths({ PGSEAL_CONFIG: {}, ...secrets })).toEqual(["destinations", "databases"]);
  });

  it("drops a database whose destination was itself invalid", () => {
    const cfg = { destinations: { r2: { endpoint: "not a url", bucket: "b" } }, databases: { app: { schedule: "@daily", destination: "r2" } } };
    const { config, problems } = validateConfig({ PGSEAL_CONFIG: cfg, ...secrets });
    expect(problems.map((p) => p.path)).toContain("destinations.r2.endpoint");
    expect(config.databases).toEqual({});
  });
});

describe("secrets for a job", () => {
  it("derive their names from database and destination names", () => {
    expect(secretSuffix("billing-db")).toBe("BILLING_DB");
    expect(databaseUrlSecret("my-app_2")).toBe("DATABASE_URL_MY_APP_2");
  });

  it("are read at start time and a missing one fails with CONFIG_INVALID naming it", () => {
    const env = { PGSEAL_CONFIG: good, ...secrets };
    const db = validateConfig(env).config.databases.app;
    expect(readJobSecrets(env, db)).toEqual({ databaseUrl: SECRET_URL, accessKeyId: "ak", secretAccessKey: SECRET_S3, keyring: KEYRING, copies: {} });
    const { S3_SECRET_ACCESS_KEY_R2: _, ...without } = env;
    expect(() => readJobSecrets(without, db)).toThrow(/missing secrets: S3_SECRET_ACCESS_KEY_R2/);
  });
});

describe("drill and alert settings", () => {
  it("default to a local drill, no age limit and no success alerts", () => {
    const { config } = validateConfig({ PGSEAL_CONFIG: good, ...secrets });
    expect(config.databases.app).toMatchObject({ drill: "local", maxAgeHours: null });
    expect(config.alerts).toEqual({ onSuccess: false });
  });

  it("take a per-database age over the deployment's, and a scratch drill needs its secret", () => {
    const cfg = { ...good, alerts: { onSuccess: true, maxAgeHours: 48 }, databases: { ...good.databases, app: { schedule: "0 3 * * *", destination: "r2", drill: "scratch", maxAgeHours: 30 } } };
    const missing = validateConfig({ PGSEAL_CONFIG: cfg, ...secrets });
    expect(missing.problems.map((p) => p.path)).toEqual(["secrets.DRILL_SCRATCH_URL_APP"]);
    const ok = validateConfig({ PGSEAL_CONFIG: cfg, ...secrets, DRILL_SCRATCH_URL_APP: "postgres://scratch:pw@scratch.example.com/postgres" });
    expect(ok.problems).toEqual([]);
    expect(ok.config.databases.app).toMatchObject({ drill: "scratch", maxAgeHours: 30 });
    expect(ok.config.databases["billing-db"].maxAgeHours).toBe(48);
    expect(ok.config.alerts.onSuccess).toBe(true);
    expect(readJobSecrets({ PGSEAL_CONFIG: cfg, ...secrets, DRILL_SCRATCH_URL_APP: "postgres://scratch:pw@scratch.example.com/postgres" }, ok.config.databases.app).drillScratchUrl).toBe(
      "postgres://scratch:pw@scratch.example.com/postgres",
    );
  });

  it("name bad drill modes, ages and alert fields by path", () => {
    const cfg = { ...good, alerts: { onSuccess: "yes", maxAgeHours: -1, webhook: "x" }, databases: { app: { schedule: "0 3 * * *", destination: "r2", drill: "remote", maxAgeHours: 0 } } };
    expect(paths({ PGSEAL_CONFIG: cfg, ...secrets }).filter((p) => !p.startsWith("secrets."))).toEqual([
      "alerts.webhook",
      "alerts.onSuccess",
      "alerts.maxAgeHours",
      "databases.app.maxAgeHours",
      "databases.app.drill",
    ]);
  });
});

describe("several destinations", () => {
  it("take the first as the primary and the rest as copies, with each copy's secrets read at start", () => {
    const cfg = { ...good, databases: { app: { schedule: "0 3 * * *", destinations: ["r2", "b2-eu"] } } };
    const { config, problems } = validateConfig({ PGSEAL_CONFIG: cfg, ...secrets });
    expect(problems).toEqual([]);
    expect(config.databases.app).toMatchObject({ destination: "r2", copies: ["b2-eu"] });
    expect(readJobSecrets({ PGSEAL_CONFIG: cfg, ...secrets }, config.databases.app).copies).toEqual({ "b2-eu": { accessKeyId: "ak2", secretAccessKey: SECRET_S3 } });
  });

  it("name a list that repeats, is empty, names an unknown destination, or comes with 'destination' too", () => {
    const bad = (v: object) => paths({ PGSEAL_CONFIG: { ...good, databases: { app: { schedule: "0 3 * * *", ...v } } }, ...secrets }).filter((p) => !p.startsWith("secrets."));
    expect(bad({ destinations: ["r2", "r2"] })).toEqual(["databases.app.destinations"]);
    expect(bad({ destinations: [] })).toEqual(["databases.app.destinations"]);
    expect(bad({ destinations: ["r2", "nowhere"] })).toEqual(["databases.app.destinations"]);
    expect(bad({ destination: "r2", destinations: ["r2"] })).toEqual(["databases.app.destinations"]);
  });
});
