// The dashboard in headless Chromium against the Worker run locally: sign in, back up now, live progress to sealed, report, sign out, refusals.
import { generateKeyPairSync, createSign, type KeyObject } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStreamer, type Streamer } from "../container/src/server.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { startLocalWorker, type LocalWorker } from "./harness/local-worker.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";
import { isActiveJobState } from "../src/shared/contract/job-states.ts";

const CHROMIUM = process.env.PGSEAL_CHROMIUM ?? "/usr/bin/chromium";
/** Screenshots of every page, kept as test artefacts (gitignored) for a human to look at. */
const SHOTS = new URL("../test-results/dashboard/", import.meta.url).pathname;
const JOB_DEADLINE_MS = 90_000;

let pg: PgCluster;
let streamer: Streamer;
let worker: LocalWorker;
let browser: Browser;
let certs: Server;
let teamDomain: string;
const ACCESS_AUD = "pgseal-dashboard-aud-1234";
const accessKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });

/** An Access JWT as Cloudflare's edge would add it, signed with our stand-in's key. */
function accessJwt(claims: Record<string, unknown>, key: KeyObject = accessKeys.privateKey): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const body = `${enc({ alg: "RS256", kid: "k1", typ: "JWT" })}.${enc(claims)}`;
  return `${body}.${createSign("RSA-SHA256").update(body).sign(key).toString("base64url")}`;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

async function signIn(page: Page): Promise<void> {
  await page.goto(`${worker.url}/login`);
  await page.getByLabel("Admin token").fill(worker.token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${worker.url}/`);
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  pg = await startPostgres({ name: "dashboard" });
  await pg.createDatabase("shop");
  await pg.psql("create table orders(id int primary key, total numeric); insert into orders select g, g * 1.5 from generate_series(1, 20000) g;", "shop");
  await pg.createDatabase("crm");
  await pg.psql("create table contacts(id int primary key, name text); insert into contacts select g, 'c' || g from generate_series(1, 500) g;", "crm");
  streamer = await startStreamer({ port: 0, host: "127.0.0.1", log: () => {} });
  // A stand-in for https://<team>.cloudflareaccess.com/cdn-cgi/access/certs.
  certs = createServer((req, res) => {
    if (req.url !== "/cdn-cgi/access/certs") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [{ ...accessKeys.publicKey.export({ format: "jwk" }), kid: "k1", alg: "RS256", use: "sig" }] }));
  });
  await new Promise<void>((resolve) => certs.listen(0, "127.0.0.1", () => resolve()));
  teamDomain = `http://127.0.0.1:${(certs.address() as { port: number }).port}`;
  worker = await startLocalWorker({
    access: { teamDomain, aud: ACCESS_AUD },
    s3: await freshBucket("dashboard"),
    prefix: "dash",
    keyring: generateKey("dash").entry,
    streamerUrl: streamer.url,
    databases: { shop: { url: pg.urlFor("shop"), schedule: "0 3 * * *" }, crm: { url: pg.urlFor("crm"), schedule: "0 * * * *" } },
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

afterAll(async () => {
  await browser?.close();
  await worker?.close();
  await streamer?.stop();
  await pg?.stop();
  await new Promise((r) => certs?.close(r));
});

describe("the dashboard in a browser", () => {
  it("signs in, lists the databases, backs up now, shows live progress until sealed, opens the report, and signs out", async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`${worker.url}/`);
    await page.waitForURL(`${worker.url}/login`); // no session: sent to sign in
    await shot(page, "1-login");
    await signIn(page);
    const rows = page.locator("tbody tr th[scope=row]");
    expect(await rows.allTextContents()).toEqual(["shop", "crm"]);
    await shot(page, "2-overview");

    await page.getByRole("link", { name: "shop" }).click();
    await page.getByRole("button", { name: "Back up now" }).click();
    await page.waitForURL(/\/db\/shop\/jobs\/[0-9A-Z-]+$/i);
    // The live script updates the bar and label in place until the job ends, then reloads once.
    const labels = new Set<string>();
    // The heading's badge and the body's state, read together: they must never disagree (one said "starting" while the other said "uploading").
    const badges: [string, string][] = [];
    const deadline = Date.now() + JOB_DEADLINE_MS;
    while (Date.now() < deadline) {
      labels.add(
        (await page
          .locator("#progress-label")
          .textContent()
          .catch(() => "")) ?? "",
      );
      // The page may be reloading between two polls: such a read is skipped, the next one counts.
      const both = await page.evaluate(() => [document.querySelector("h1 .badge")?.textContent ?? "", document.getElementById("state")?.textContent ?? ""] as [string, string]).catch(() => null);
      if (both) badges.push(both);
      if (both?.[0] === "sealed") break;
      await page.waitForTimeout(300);
    }
    expect(badges.filter(([a, b]) => a !== b)).toEqual([]);
    expect(new Set(badges.map(([a]) => a)).size).toBeGreaterThan(1); // the heading's badge moved too
    await shot(page, "3-job-sealed");
    expect(await page.locator("h1 .badge").textContent()).toBe("sealed");
    expect(labels.size).toBeGreaterThan(1); // it moved
    expect(await page.locator("#bar").getAttribute("value")).toBe("1");
    expect(await page.locator("#drill-proof").textContent()).toMatch(/^Proven: content-exact: \d+ tables, [\d.]+ [KMGT]?i?B hashed$/);
    await page.getByText(/Per-table counts/).click();
    expect(await page.locator("details tbody tr td").first().textContent()).toBe("public.orders");
    expect(await page.locator("details tbody tr td").nth(2).textContent()).toBe("20000");

    await page.getByRole("link", { name: "Restore Drill Report" }).click();
    await page.waitForURL(/\/report\/\d{4}-\d{2}$/);
    expect(await page.content()).toContain("Restore Drill Report");
    expect(await page.getByRole("button", { name: "Print" }).count()).toBe(1);
    expect(await page.content()).toMatch(/What the drill proved<\/th><td class="msg">content-exact: \d+ tables/);
    await shot(page, "4-report");

    await page.goto(`${worker.url}/`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${worker.url}/login`);
    await page.goto(`${worker.url}/db/shop`);
    await page.waitForURL(`${worker.url}/login`);
    await page.close();
  });

  it("draws the overview's trends with labelled axes and units once there are two sealed backups", async () => {
    // Two sealed backups of shop make a line (the test above took one; this one runs alone too).
    const sealedCount = async () => (await worker.api<{ jobs: { state: string }[] }>("/backups/shop")).body.jobs.filter((j) => j.state === "sealed").length;
    while ((await sealedCount()) < 2) {
      const post = await worker.api<{ status_url: string }>("/backups/shop", { method: "POST" });
      expect(post.status).toBe(202);
      const deadline = Date.now() + JOB_DEADLINE_MS;
      while (isActiveJobState((await worker.api<{ state: string }>(post.body.status_url)).body.state)) {
        if (Date.now() > deadline) throw new Error("a backup did not end in time");
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    await signIn(page);
    const charts = page.locator("tbody tr", { has: page.getByRole("link", { name: "shop" }) }).locator("svg.spark");
    expect(await charts.count()).toBe(2);
    const [size, restore] = await Promise.all([charts.nth(0).locator("text").allTextContents(), charts.nth(1).locator("text").allTextContents()]);
    // y axis: the highest value with its unit (and the lowest, when different); x axis: what the points are.
    expect(size[0]).toMatch(/^[\d.]+ (B|KiB|MiB|GiB)$/);
    expect(size).toContain("last 2, oldest → newest");
    expect(restore[0]).toMatch(/^[\d.]+ s$/);
    expect(restore).toContain("last 2, oldest → newest");
    expect(await page.locator("th", { hasText: "Trends: stored size, restore time" }).count()).toBe(1);
    await shot(page, "6-overview-trends");
    await page.close();
  });

  it("is usable at a phone's width", async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await signIn(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, "5-overview-phone");
    await page.close();
  });
});

describe("dashboard refusals", () => {
  it("refuses a forged session cookie and a wrong token", async () => {
    const forged = await fetch(`${worker.url}/db/shop`, { headers: { cookie: "pgseal_session=eyJleHAiOjk5OTk5OTk5OTksImNzcmYiOiJ4In0.AAAA" }, redirect: "manual" });
    expect(forged.status).toBe(303);
    expect(forged.headers.get("location")).toBe("/login");
    const wrong = await fetch(`${worker.url}/login`, { method: "POST", body: new URLSearchParams({ token: "not-the-token" }), redirect: "manual" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
  });

  it("refuses a cross-site POST and a POST without the CSRF token, even with a valid session", async () => {
    const login = await fetch(`${worker.url}/login`, { method: "POST", body: new URLSearchParams({ token: worker.token }), redirect: "manual" });
    expect(login.status).toBe(303);
    const cookie = login.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Secure/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    const session = cookie.split(";")[0];
    const noCsrf = await fetch(`${worker.url}/db/crm/backup`, { method: "POST", headers: { cookie: session }, body: new URLSearchParams({}), redirect: "manual" });
    expect(noCsrf.status).toBe(403);
    const crossSite = await fetch(`${worker.url}/db/crm/backup`, {
      method: "POST",
      headers: { cookie: session, origin: "https://evil.example" },
      body: new URLSearchParams({ csrf: "anything" }),
      redirect: "manual",
    });
    expect(crossSite.status).toBe(403);
    // Nothing was started by either.
    const jobs = await worker.api<{ jobs: unknown[] }>("/backups/crm");
    expect(jobs.body.jobs).toEqual([]);
  });
});

describe("Cloudflare Access", () => {
  const now = () => Math.floor(Date.now() / 1000);
  const get = (jwt: string) => fetch(`${worker.url}/db/shop`, { headers: { "cf-access-jwt-assertion": jwt }, redirect: "manual" });

  it("signs in a user whose Access JWT is valid for this application, with a session cookie for forms", async () => {
    const res = await get(accessJwt({ aud: [ACCESS_AUD], iss: teamDomain, exp: now() + 300, email: "ops@example.com" }));
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toMatch(/^pgseal_session=.*HttpOnly/i);
  });

  it("refuses a JWT for another application, an expired one, one signed by another key, and alg none", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const bad = [
      accessJwt({ aud: ["someone-else"], iss: teamDomain, exp: now() + 300 }),
      accessJwt({ aud: [ACCESS_AUD], iss: teamDomain, exp: now() - 600 }),
      accessJwt({ aud: [ACCESS_AUD], iss: teamDomain, exp: now() + 300 }, other),
      `${Buffer.from('{"alg":"none","kid":"k1"}').toString("base64url")}.${Buffer.from(JSON.stringify({ aud: [ACCESS_AUD], iss: teamDomain, exp: now() + 300 })).toString("base64url")}.`,
    ];
    for (const jwt of bad) {
      const res = await get(jwt);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/login");
    }
  });
});
