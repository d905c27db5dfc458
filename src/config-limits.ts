// Limits PGSEAL_CONFIG and the secrets must respect: the job bounds (every job ends) and the strength of ADMIN_TOKEN.

/** Defaults of the job bounds: long enough for any healthy backup, short enough that a stuck one ends the same day. */
export const JOB_LIMIT_DEFAULTS = { lockWaitTimeoutSeconds: 600, stallTimeoutMinutes: 30, maxRunHours: 12 } as const;
export const JOB_LIMIT_MAX = { lockWaitTimeoutSeconds: 86_400, stallTimeoutMinutes: 1_440, maxRunHours: 168 } as const;

/** ADMIN_TOKEN guards everything: 16 characters with 8 different ones rules out "a", blanks and words. */
const MIN_ADMIN_TOKEN_CHARS = 16;
const MIN_ADMIN_TOKEN_DISTINCT = 8;

/** Why an ADMIN_TOKEN is too weak to guard the API (never quoting it), or null. */
export function adminTokenProblem(token: string): string | null {
  if (token.trim() !== token) return "must not start or end with whitespace: wrangler secret put ADMIN_TOKEN with the output of 'openssl rand -base64 32'";
  if (token.length < MIN_ADMIN_TOKEN_CHARS) return `too short (${token.length} characters, at least ${MIN_ADMIN_TOKEN_CHARS}): use 'openssl rand -base64 32'`;
  if (new Set(token).size < MIN_ADMIN_TOKEN_DISTINCT) return `too repetitive (fewer than ${MIN_ADMIN_TOKEN_DISTINCT} different characters): use 'openssl rand -base64 32'`;
  return null;
}
