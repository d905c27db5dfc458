// Dashboard sessions: a signed, expiring cookie minted from the admin token, and the CSRF token every form carries.
import { fromBase64Url, toBase64Url } from "../shared/bytes.ts";

export const SESSION_COOKIE = "pgseal_session";
export const SESSION_TTL_SECONDS = 12 * 3600;
const enc = new TextEncoder();

export interface Session {
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Sent back in every form; a cross-site page cannot read it. */
  csrf: string;
}

/** The signing key is derived from ADMIN_TOKEN: rotating the token signs everyone out. */
async function key(adminToken: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", enc.encode(adminToken), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode("pgseal dashboard session v1") },
    base,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign", "verify"],
  );
}

export async function mintSession(adminToken: string, nowMs = Date.now()): Promise<{ value: string; session: Session }> {
  const session: Session = { exp: Math.floor(nowMs / 1000) + SESSION_TTL_SECONDS, csrf: toBase64Url(crypto.getRandomValues(new Uint8Array(24))) };
  const payload = toBase64Url(enc.encode(JSON.stringify(session)));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await key(adminToken), enc.encode(payload)));
  return { value: `${payload}.${toBase64Url(mac)}`, session };
}

/** The session if the cookie is ours, intact and unexpired; null for anything else (forged, stale, malformed). */
export async function readSession(adminToken: string, value: string | undefined, nowMs = Date.now()): Promise<Session | null> {
  if (!value) return null;
  const [payload, mac, extra] = value.split(".");
  if (!payload || !mac || extra !== undefined) return null;
  let ok = false;
  try {
    ok = await crypto.subtle.verify("HMAC", await key(adminToken), fromBase64Url(mac) as Uint8Array<ArrayBuffer>, enc.encode(payload));
  } catch {
    return null;
  }
  if (!ok) return null;
  try {
    const s = JSON.parse(new TextDecoder().decode(fromBase64Url(payload))) as Session;
    if (typeof s.exp !== "number" || typeof s.csrf !== "string" || s.exp * 1000 <= nowMs) return null;
    return s;
  } catch {
    return null;
  }
}
