// Cloudflare Access: trust a dashboard user whose request carries a valid Access JWT (RS256, our team's certs, our application's aud, not expired), verified by jose.
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, jwtVerify, type JWTVerifyGetKey } from "jose";

export const ACCESS_HEADER = "cf-access-jwt-assertion";
/** Access rotates its signing keys every few weeks; an hour of caching costs one fetch per isolate per hour (an unknown kid refetches sooner). */
const CERTS_TTL_MS = 3_600_000;
const CLOCK_SKEW_S = 60;

export interface AccessConfig {
  /** https://<team>.cloudflareaccess.com */
  teamDomain: string;
  /** The Access application's AUD tag. */
  aud: string;
}

/** One key set per team and fetcher, kept for the isolate's life: jose caches the fetched certs inside it. */
const keySets = new Map<string, { fetcher: typeof fetch; keys: JWTVerifyGetKey }>();

function teamKeys(issuer: string, fetcher: typeof fetch): JWTVerifyGetKey {
  const hit = keySets.get(issuer);
  if (hit?.fetcher === fetcher) return hit.keys;
  const keys = createRemoteJWKSet(new URL(`${issuer}/cdn-cgi/access/certs`), {
    cacheMaxAge: CERTS_TTL_MS,
    // Wrapped: workerd refuses a fetch called with any `this` but the global one.
    [customFetch]: (url: string, init: RequestInit) => fetcher(url, init),
  });
  keySets.set(issuer, { fetcher, keys });
  return keys;
}

/** The user's email when the JWT is valid for this application; null for anything else (never throws). */
export async function verifyAccessJwt(token: string | undefined, cfg: AccessConfig, nowMs = Date.now(), fetcher: typeof fetch = fetch): Promise<string | null> {
  if (!token) return null;
  try {
    // Access always names its key; a token without kid is not one of its tokens.
    if (!decodeProtectedHeader(token).kid) return null;
    const issuer = cfg.teamDomain.replace(/\/$/, "");
    const { payload } = await jwtVerify(token, teamKeys(issuer, fetcher), {
      // RS256 only: never let the token choose another algorithm (or "none").
      algorithms: ["RS256"],
      audience: cfg.aud,
      issuer,
      requiredClaims: ["exp"],
      currentDate: new Date(nowMs),
      clockTolerance: CLOCK_SKEW_S,
    });
    return typeof payload.email === "string" ? payload.email : "access user";
  } catch {
    return null; // Every refusal (bad signature, claims, certs unreachable) means "not signed in", never an error page.
  }
}
