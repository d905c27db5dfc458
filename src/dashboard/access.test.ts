// Cloudflare Access JWTs, verified in workerd: what is accepted (RS256, our team's certs, our aud and iss, within exp/nbf ± 60 s) and everything refused.
import { describe, expect, it } from "vitest";
import { toBase64Url } from "../shared/bytes.ts";
import { verifyAccessJwt, type AccessConfig } from "./access.ts";

const AUD = "aud-tag-0123456789";
const NOW_MS = Date.UTC(2026, 10, 29, 12, 0, 0);
const NOW = NOW_MS / 1000;
const enc = new TextEncoder();
let teamSeq = 0;

const rsa = (hash: string, name = "RSASSA-PKCS1-v1_5") =>
  crypto.subtle.generateKey({ name, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash }, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
const teamKey = await rsa("SHA-256");
const foreignKey = await rsa("SHA-256");

/** A fresh team (and so a fresh certs cache) whose certs endpoint serves teamKey as kid k1, counting fetches. */
async function team(status = 200, keyAlg: string | null = "RS256"): Promise<{ cfg: AccessConfig; fetcher: typeof fetch; fetches: string[] }> {
  const { alg: _, ...exported } = (await crypto.subtle.exportKey("jwk", teamKey.publicKey)) as JsonWebKey;
  const jwk = { ...exported, kid: "k1", use: "sig", ...(keyAlg ? { alg: keyAlg } : {}) };
  const fetches: string[] = [];
  const fetcher = (async (input: RequestInfo | URL) => {
    fetches.push(String(input instanceof Request ? input.url : input));
    return new Response(JSON.stringify({ keys: [jwk] }), { status, headers: { "content-type": "application/json" } });
  }) as typeof fetch;
  return { cfg: { teamDomain: `https://team-${++teamSeq}.cloudflareaccess.com`, aud: AUD }, fetcher, fetches };
}

async function sign(header: Record<string, unknown>, claims: Record<string, unknown>, key: CryptoKey = teamKey.privateKey): Promise<string> {
  const body = `${toBase64Url(enc.encode(JSON.stringify(header)))}.${toBase64Url(enc.encode(JSON.stringify(claims)))}`;
  return `${body}.${toBase64Url(new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, enc.encode(body))))}`;
}

const claimsFor = (cfg: AccessConfig, extra: Record<string, unknown> = {}) => ({ aud: [cfg.aud], iss: cfg.teamDomain, exp: NOW + 300, iat: NOW, email: "ops@example.com", ...extra });
const rs256 = { alg: "RS256", kid: "k1", typ: "JWT" };

describe("verifyAccessJwt", () => {
  it("accepts a token signed by the team's key for our aud and iss, and fetches the team's certs once", async () => {
    const t = await team();
    expect(await verifyAccessJwt(await sign(rs256, claimsFor(t.cfg)), t.cfg, NOW_MS, t.fetcher)).toBe("ops@example.com");
    expect(await verifyAccessJwt(await sign(rs256, claimsFor(t.cfg, { aud: AUD, email: undefined })), t.cfg, NOW_MS, t.fetcher)).toBe("access user");
    expect(t.fetches).toEqual([`${t.cfg.teamDomain}/cdn-cgi/access/certs`]);
  });

  it("matches iss against a team domain configured with a trailing slash", async () => {
    const t = await team();
    const cfg = { ...t.cfg, teamDomain: `${t.cfg.teamDomain}/` };
    expect(await verifyAccessJwt(await sign(rs256, claimsFor(t.cfg)), cfg, NOW_MS, t.fetcher)).toBe("ops@example.com");
  });

  it("allows 60 s of clock skew on exp and nbf, and no more", async () => {
    const t = await team();
    const verify = async (extra: Record<string, unknown>) => verifyAccessJwt(await sign(rs256, claimsFor(t.cfg, extra)), t.cfg, NOW_MS, t.fetcher);
    expect(await verify({ exp: NOW - 59 })).toBe("ops@example.com");
    expect(await verify({ exp: NOW - 61 })).toBeNull();
    expect(await verify({ nbf: NOW + 59 })).toBe("ops@example.com");
    expect(await verify({ nbf: NOW + 61 })).toBeNull();
  });

  it("refuses another application's aud, another issuer, and a token without exp", async () => {
    const t = await team();
    const verify = async (extra: Record<string, unknown>) => verifyAccessJwt(await sign(rs256, claimsFor(t.cfg, extra)), t.cfg, NOW_MS, t.fetcher);
    expect(await verify({ aud: ["someone-else"] })).toBeNull();
    expect(await verify({ aud: undefined })).toBeNull();
    expect(await verify({ iss: "https://other-team.cloudflareaccess.com" })).toBeNull();
    expect(await verify({ exp: undefined })).toBeNull();
    expect(await verify({ exp: String(NOW + 300) })).toBeNull();
  });

  it("refuses a foreign key, an unknown or missing kid, and a tampered payload", async () => {
    const t = await team();
    const good = await sign(rs256, claimsFor(t.cfg));
    const [h, , s] = good.split(".");
    const tampered = `${h}.${toBase64Url(enc.encode(JSON.stringify(claimsFor(t.cfg, { email: "root@example.com" }))))}.${s}`;
    for (const token of [
      await sign(rs256, claimsFor(t.cfg), foreignKey.privateKey),
      await sign({ ...rs256, kid: "k2" }, claimsFor(t.cfg)),
      await sign({ alg: "RS256", typ: "JWT" }, claimsFor(t.cfg)),
      tampered,
    ]) {
      expect(await verifyAccessJwt(token, t.cfg, NOW_MS, t.fetcher)).toBeNull();
    }
  });

  it("refuses every algorithm but RS256: none, HS256 keyed with the public key, RS384 and PS256 by the team's own key", async () => {
    // Certs whose key names no alg, so that only our own RS256 rule stands between these tokens and a session.
    const t = await team(200, null);
    expect(await verifyAccessJwt(await sign(rs256, claimsFor(t.cfg)), t.cfg, NOW_MS, t.fetcher)).toBe("ops@example.com");
    const body = (alg: string) => `${toBase64Url(enc.encode(JSON.stringify({ alg, kid: "k1" })))}.${toBase64Url(enc.encode(JSON.stringify(claimsFor(t.cfg))))}`;
    const publicPem = new Uint8Array((await crypto.subtle.exportKey("spki", teamKey.publicKey)) as ArrayBuffer);
    const hmac = await crypto.subtle.importKey("raw", publicPem, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    // The team's own private key under other RSA algorithms: only the algorithm is wrong.
    const { alg: _, ...privateJwk } = (await crypto.subtle.exportKey("jwk", teamKey.privateKey)) as JsonWebKey;
    const rs384 = await crypto.subtle.importKey("jwk", privateJwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" }, false, ["sign"]);
    const ps256 = await crypto.subtle.importKey("jwk", privateJwk, { name: "RSA-PSS", hash: "SHA-256" }, false, ["sign"]);
    for (const token of [
      `${body("none")}.`,
      `${body("HS256")}.${toBase64Url(new Uint8Array(await crypto.subtle.sign("HMAC", hmac, enc.encode(body("HS256")))))}`,
      `${body("RS384")}.${toBase64Url(new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", rs384, enc.encode(body("RS384")))))}`,
      `${body("PS256")}.${toBase64Url(new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, ps256, enc.encode(body("PS256")))))}`,
    ]) {
      expect(await verifyAccessJwt(token, t.cfg, NOW_MS, t.fetcher)).toBeNull();
    }
  });

  it("returns null, never throws, for no token, malformed ones and certs that cannot be fetched", async () => {
    const t = await team();
    for (const token of [undefined, "", "a.b", "a.b.c.d", "!!.??.**", `${toBase64Url(enc.encode("{"))}.e30.AA`]) {
      expect(await verifyAccessJwt(token, t.cfg, NOW_MS, t.fetcher)).toBeNull();
    }
    const down = await team(503);
    expect(await verifyAccessJwt(await sign(rs256, claimsFor(down.cfg)), down.cfg, NOW_MS, down.fetcher)).toBeNull();
    expect(down.fetches.length).toBe(1);
  });
});
