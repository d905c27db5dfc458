// Redaction of connection strings and credentials before anything is logged or shown.

/** postgres://user:secret@host/db?password=x → postgres://user:***@host/db?password=*** */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Not a URL (maybe key=value conninfo): hide every password=... value.
    return raw.replace(/(password\s*=\s*)('[^']*'|\S+)/gi, "$1***");
  }
  if (url.password) url.password = "***";
  for (const k of [...url.searchParams.keys()]) {
    if (/^(password|passwd|pass|secret|token|x-amz-signature|x-amz-credential)$/i.test(k)) url.searchParams.set(k, "***");
  }
  return url.toString();
}

/** Removes every occurrence of the given secret strings from a text (for stderr of child processes). */
export function scrub(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join("***");
  }
  return out;
}
