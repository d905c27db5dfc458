// Cloudflare Access: trust a dashboard user whose request carries a valid Access JWT (RS256, our application's aud, not expired).
import { fromBase64Url } from "../shared/bytes.ts";

export const ACCESS_HEADER = "cf-access-jwt-assertion";
/** Access rotates its signing keys every few weeks; an hour of caching costs one fetch per isolate per hour. */
const CERTS_TTL_MS = 3_600_000;
const CLOCK_SKEW_S = 60;

export interface AccessConfig {
  /** https://<team>.cloudflareaccess.com */
  teamDomain: string;
  /** The Access application's AUD tag. */
  aud: string;
}

interface Jwk extends JsonWebKey {
  kid?: string;
}

const certsCache = new Map<string, { at: number; keys: Jwk[] }>();
const dec = new TextDecoder();

async function signingKeys(teamDomain: string, fetcher: typeof fetch): Promise<Jwk[]> {
  const hit = certsCache.get(teamDomain);
  if (hit && Date.now() - hit.at < CERTS_TTL_MS) return hit.keys;
  const res = await fetcher(`${teamDomain.replace(/\/$/, "")}/cdn-cgi/access/certs`);
  if (!res.ok) throw new Error(`Access certs: HTTP ${res.status}`);
  const keys = ((await res.json()) as { keys?: Jwk[] }).keys ?? [];
  certsCache.set(teamDomain, { at: Date.now(), keys });
  return keys;
}

/** The user's email when the JWT is valid for this application; null for anything else (never throws). */
export async function verifyAccessJwt(token: string | undefined, cfg: AccessConfig, nowMs = Date.now(), fetcher: typeof fetch = fetch): Promise<string | null> {
  if (!token) return null;
  try {
    const [h, p, sig, extra] = token.split(".");
    if (!h || !p || !sig || extra !== undefined) return null;
    const header = JSON.parse(dec.decode(fromBase64Url(h))) as { alg?: string; kid?: string };
    const claims = JSON.parse(dec.decode(fromBase64Url(p))) as { aud?: string | string[]; iss?: string; exp?: number; nbf?: number; email?: string };
    // RS256 only: never let the token choose a weaker algorithm (or "none").
    if (header.alg !== "RS256" || !header.kid) return null;
    const jwk = (await signingKeys(cfg.teamDomain, fetcher)).find((k) => k.kid === header.kid);
    if (!jwk) return null;
    const key = await crypto.subtle.importKey("jwk", jwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
    const ok = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, fromBase64Url(sig) as Uint8Array<ArrayBuffer>, new TextEncoder().encode(`${h}.${p}`));
    if (!ok) return null;
    const now = nowMs / 1000;
    const auds = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!auds.includes(cfg.aud)) return null;
    if (claims.iss !== cfg.teamDomain.replace(/\/$/, "")) return null;
    if (typeof claims.exp !== "number" || claims.exp + CLOCK_SKEW_S < now) return null;
    if (typeof claims.nbf === "number" && claims.nbf - CLOCK_SKEW_S > now) return null;
    return claims.email ?? "access user";
  } catch {
    return null;
  }
}
