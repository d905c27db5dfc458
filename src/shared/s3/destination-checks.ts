// The checks of a destination's settings, one definition for the Worker's config, the streamer's job request and the CLI.
export type ObjectLock = { mode: "GOVERNANCE" | "COMPLIANCE"; days: number };
export const MAX_LOCK_DAYS = 36_500;

/** What is wrong with an S3 endpoint URL; empty when it is usable. */
export function endpointProblems(endpoint: string): string[] {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return ["must be an absolute http(s) URL, e.g. https://<account>.r2.cloudflarestorage.com"];
  }
  const problems: string[] = [];
  if (url.protocol !== "https:" && url.protocol !== "http:") problems.push("must use https (or http)");
  // Credentials belong in secrets, never in settings that `wrangler deploy` prints and the dashboard shows.
  if (url.username !== "" || url.password !== "") problems.push("must not contain credentials: use the S3 key secrets");
  if (url.search !== "" || url.hash !== "") problems.push("must not have a query or fragment");
  return problems;
}

/** The object lock setting, or the reason it is not one. */
export function parseObjectLock(v: unknown): { lock: ObjectLock } | { problem: string } {
  const l = v as { mode?: unknown; days?: unknown } | null;
  if (typeof l !== "object" || l === null || (l.mode !== "GOVERNANCE" && l.mode !== "COMPLIANCE") || typeof l.days !== "number" || !Number.isInteger(l.days) || l.days < 1 || l.days > MAX_LOCK_DAYS) {
    return { problem: `must be {"mode": "GOVERNANCE" or "COMPLIANCE", "days": a whole number 1-${MAX_LOCK_DAYS}}` };
  }
  return { lock: { mode: l.mode, days: l.days } };
}
