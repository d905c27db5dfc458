// `pgseal check-config`: the Worker's configuration validated as the deployed Worker validates it, every problem by path.
import { readFileSync } from "node:fs";
import { parseEnv } from "node:util";
import { validateConfig } from "../../src/config.ts";
import { PgsealError } from "../../src/shared/errors.ts";
import type { Command } from "../command.ts";
import { parseJsonc } from "../jsonc.ts";

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new PgsealError("CONFIG_INVALID", `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Text left from a template: `<ACCOUNT_ID>`, `ACCOUNT_ID`, `YOUR_BUCKET`. Valid as a URL, so only a warning can catch it. */
const PLACEHOLDER_RE = /<[^<>]+>|\bACCOUNT_ID\b|\bYOUR[_-][A-Z_-]+/i;

/** Destination fields still holding a template placeholder: the Worker accepts them and then fails at the first backup. */
export function placeholderWarnings(config: unknown): { path: string; message: string }[] {
  const dests = (config as { destinations?: Record<string, Record<string, unknown>> } | null)?.destinations ?? {};
  const out: { path: string; message: string }[] = [];
  for (const [name, d] of Object.entries(typeof dests === "object" ? dests : {})) {
    for (const field of ["endpoint", "bucket", "region", "prefix"]) {
      const v = d?.[field];
      const m = typeof v === "string" ? PLACEHOLDER_RE.exec(v) : null;
      if (m) {
        const fix = /ACCOUNT_ID/i.test(m[0]) ? "your Cloudflare account id (dashboard → R2 → Account ID)" : "the real value";
        out.push({ path: `destinations.${name}.${field}`, message: `'${m[0]}' looks like a placeholder: replace it with ${fix}` });
      }
    }
  }
  return out;
}

export const checkConfig: Command = {
  summary: "validate PGSEAL_CONFIG in wrangler.jsonc (and the secrets in an env file) like the Worker does",
  usage: "pgseal check-config [--config wrangler.jsonc] [--env-file .dev.vars] [--json]",
  flagHelp: { config: "the wrangler config holding vars.PGSEAL_CONFIG (default wrangler.jsonc)", "env-file": "also check the secrets in this dotenv file (values never printed)" },
  description: ["  Field problems always fail. Secrets are checked only with --env-file (e.g. .dev.vars): deployed", "  secrets live in Cloudflare, where GET /health reports the same list."],
  options: { config: { type: "string" }, "env-file": { type: "string" }, json: { type: "boolean" } },
  async run({ flags, out, err }) {
    const configPath = typeof flags.config === "string" ? flags.config : "wrangler.jsonc";
    const envFile = typeof flags["env-file"] === "string" ? flags["env-file"] : undefined;
    let wrangler: unknown;
    try {
      wrangler = parseJsonc(readText(configPath, "the wrangler config"));
    } catch (e) {
      if (e instanceof PgsealError) throw e;
      throw new PgsealError("CONFIG_INVALID", `${configPath} is not valid JSONC: ${e instanceof Error ? e.message : String(e)}`);
    }
    const vars = (wrangler as { vars?: Record<string, unknown> })?.vars ?? {};
    // Node's own dotenv reader: quotes, comments, `export` and multi-line values as wrangler reads .dev.vars.
    const secrets = envFile ? parseEnv(readText(envFile, "the env file")) : {};
    // As in `wrangler dev`: values in the env file override vars of the same name.
    const { config, problems } = validateConfig({ ...vars, ...secrets });
    const raw = vars.PGSEAL_CONFIG;
    let parsedRaw: unknown = raw;
    if (typeof raw === "string") {
      try {
        parsedRaw = JSON.parse(raw);
      } catch {
        parsedRaw = null; // validateConfig has already reported it as a problem
      }
    }
    const warnings = placeholderWarnings(parsedRaw);
    const fieldProblems = problems.filter((p) => !p.path.startsWith("secrets."));
    const secretProblems = problems.filter((p) => p.path.startsWith("secrets."));
    const failing = envFile ? problems : fieldProblems;
    if (flags.json) {
      out(
        JSON.stringify(
          { ok: failing.length === 0, databases: Object.keys(config.databases), destinations: Object.keys(config.destinations), problems: failing, warnings, secretsChecked: envFile !== undefined },
          null,
          2,
        ),
      );
    } else {
      for (const p of fieldProblems) err(`✗ ${p.path}: ${p.message}`);
      for (const w of warnings) err(`⚠ ${w.path}: ${w.message}`);
      if (envFile) for (const p of secretProblems) err(`✗ ${p.path}: ${p.message}`);
      else if (secretProblems.length > 0) {
        err(`secrets this configuration needs (not checked without --env-file; set each with wrangler secret put):`);
        for (const p of secretProblems) err(`  ${p.path.slice("secrets.".length)}`);
      }
      if (failing.length === 0)
        out(
          `ok: ${Object.keys(config.databases).length} database(s), ${Object.keys(config.destinations).length} destination(s) in ${configPath}${warnings.length ? `, but ${warnings.length} placeholder(s) to replace before deploying (above)` : ""}`,
        );
    }
    if (failing.length > 0) throw new PgsealError("CONFIG_INVALID", `${failing.length} problem(s) in ${configPath}${envFile ? ` and ${envFile}` : ""}`);
  },
};
