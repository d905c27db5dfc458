// Alert rules: which job ends alert and ping, the Slack/Discord message shape, and when a stale database is announced.
import { describe, expect, it } from "vitest";
import { alertFor, alertMessage, messagesFor, pingFor, pingUrl, STALE_REPEAT_MS, staleDue } from "./alerts.ts";

const HOUR_MS = 3_600_000;

describe("alertFor", () => {
  it("alerts on every failure kind, and on success only when asked", () => {
    expect(["failed", "drill-failed", "drill-skipped"].map((s) => alertFor(s as never, false))).toEqual(["backup-failed", "drill-failed", "drill-skipped"]);
    expect(alertFor("sealed", false)).toBeNull();
    expect(alertFor("sealed", true)).toBe("backup-sealed");
    expect(alertFor("cancelled", true)).toBeNull();
    expect(alertFor("dumping", true)).toBeNull();
  });
});

describe("pings", () => {
  it("pings start once per job, success on sealed or uploaded, fail on every failure end", () => {
    expect(pingFor("starting", 1)).toBe("start");
    expect(pingFor("starting", 2)).toBeNull();
    expect(pingFor("sealed", 1)).toBe("success");
    expect(pingFor("drill-failed", 1)).toBe("fail");
    expect(pingFor("cancelled", 1)).toBeNull();
    expect(pingUrl("https://hc-ping.com/uuid/", "start")).toBe("https://hc-ping.com/uuid/start");
    expect(pingUrl("https://hc-ping.com/uuid", "success")).toBe("https://hc-ping.com/uuid");
  });
});

describe("alertMessage", () => {
  it("carries a text for Slack, a content for Discord, and the facts as fields", () => {
    const m = alertMessage({ event: "drill-failed", db: "shop", at: "2026-11-22T03:00:00.000Z", jobId: "j1", code: "DRILL_ROW_MISMATCH", message: "1 of 12 tables differ" });
    expect(m.text).toBe("pgseal: shop: restore drill FAILED: the backup is stored but NOT sealed\nDRILL_ROW_MISMATCH: 1 of 12 tables differ\njob j1");
    expect(m.content).toBe(m.text);
    expect(m.pgseal).toMatchObject({ event: "drill-failed", db: "shop", code: "DRILL_ROW_MISMATCH" });
  });
});

describe("staleDue", () => {
  const now = Date.parse("2026-11-22T12:00:00Z");
  const maxAgeMs = 24 * HOUR_MS;
  it("is due when the last sealed backup is older than the limit, and not again within a day", () => {
    expect(staleDue({ lastSealedMs: now - 25 * HOUR_MS, firstJobMs: 0, maxAgeMs, lastAlertMs: null, now })).toBe(true);
    expect(staleDue({ lastSealedMs: now - 23 * HOUR_MS, firstJobMs: 0, maxAgeMs, lastAlertMs: null, now })).toBe(false);
    expect(staleDue({ lastSealedMs: now - 30 * HOUR_MS, firstJobMs: 0, maxAgeMs, lastAlertMs: now - HOUR_MS, now })).toBe(false);
    expect(staleDue({ lastSealedMs: now - 60 * HOUR_MS, firstJobMs: 0, maxAgeMs, lastAlertMs: now - STALE_REPEAT_MS, now })).toBe(true);
  });

  it("counts from the first job when nothing was ever sealed, and stays quiet with no jobs at all", () => {
    expect(staleDue({ lastSealedMs: null, firstJobMs: now - 25 * HOUR_MS, maxAgeMs, lastAlertMs: null, now })).toBe(true);
    expect(staleDue({ lastSealedMs: null, firstJobMs: now - HOUR_MS, maxAgeMs, lastAlertMs: null, now })).toBe(false);
    expect(staleDue({ lastSealedMs: null, firstJobMs: null, maxAgeMs, lastAlertMs: null, now })).toBe(false);
  });
});

describe("messagesFor", () => {
  const job = (state: string, extra: object = {}) =>
    ({
      id: "j1",
      db: "shop",
      trigger: "manual",
      state,
      attempt: 1,
      createdAt: 0,
      updatedAt: Date.parse("2026-11-22T03:00:00Z"),
      notBefore: 0,
      streamerJobId: null,
      missedPolls: 0,
      lastPollOkAt: null,
      progress: null,
      result: null,
      error: null,
      ...extra,
    }) as never;
  const env = { ALERT_WEBHOOK_URL: "https://hooks.example/x", PING_URL_SHOP: "https://hc-ping.com/u" };

  it("sends the ping and one alert per failed copy even when the job sealed, and the sealed alert only when asked", () => {
    const sealed = job("sealed", {
      result: {
        artifactKey: "k",
        manifestKey: "m",
        manifest: null,
        copies: [
          { name: "r2", bucket: "b", ok: true },
          { name: "b2", bucket: "c", ok: false, error: { code: "S3_FORBIDDEN", message: "no" } },
        ],
      },
    });
    const quiet = messagesFor(sealed, "shop", env, false);
    expect(quiet.map((m) => [m.what, m.url, (m.body?.pgseal as { event?: string } | undefined)?.event ?? null])).toEqual([
      ["ping success", "https://hc-ping.com/u", null],
      ["alert", "https://hooks.example/x", "copy-failed"],
    ]);
    expect(messagesFor(sealed, "shop", env, true).map((m) => (m.body?.pgseal as { event?: string } | undefined)?.event)).toContain("backup-sealed");
  });

  it("sends nothing for a setting that is not there", () => {
    expect(messagesFor(job("failed", { error: { code: "PG_AUTH_FAILED", message: "x", retryable: false } }), "shop", {}, true)).toEqual([]);
    expect(messagesFor(job("starting"), "shop", { PING_URL_SHOP: "https://hc-ping.com/u" }, false)).toEqual([{ url: "https://hc-ping.com/u/start", what: "ping start" }]);
  });
});
