// What `pgseal --help`, `pgseal help CMD` and `pgseal CMD --help` print: every flag and environment variable a command reads.
import { readFileSync } from "node:fs";
import type { Command } from "./command.ts";
import { ENV_HELP, GLOBAL_FLAG_HELP } from "./options.ts";

/** package.json sits one directory above both cli/main.ts and the bundled dist/pgseal.mjs. */
export function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

export function generalHelp(commands: Record<string, Command>): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length)) + 2;
  const lines = [`pgseal ${version()}: encrypted, restore-drilled PostgreSQL backups to S3-compatible storage`, "", "usage: pgseal <command> [options]", ""];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(width)}${c.summary}`);
  lines.push(
    "",
    "  help <command>   that command's options and environment variables (also: pgseal <command> --help)",
    "  --version        print the version",
    "",
    "Settings come from flags or environment variables (prefer the environment for secrets: command lines show in ps).",
    "Errors are one line 'pgseal CMD: error CODE: what to do'; exit status 1, 2 for usage errors.",
  );
  return lines.join("\n");
}

function flagName(name: string, spec: { type: string; short?: string }): string {
  return `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.type === "string" ? " VALUE" : ""}`;
}

export function commandHelp(name: string, c: Command): string {
  const lines = [`usage: ${c.usage}`, "", c.summary];
  if (c.description?.length) lines.push(...c.description);
  const flags = Object.entries({ ...c.options, help: { type: "boolean", short: "h" } }).map(([f, spec]) => {
    const text = c.flagHelp?.[f] ?? GLOBAL_FLAG_HELP[f];
    if (text === undefined) throw new Error(`pgseal ${name}: flag --${f} has no help text`);
    return [flagName(f, spec as { type: string; short?: string }), text] as const;
  });
  const width = Math.max(...flags.map(([f]) => f.length)) + 2;
  lines.push("", "options:", ...flags.map(([f, t]) => `  ${f.padEnd(width)}${t}`));
  if (c.env?.length) {
    const w = Math.max(...c.env.map((e) => e.length)) + 2;
    lines.push("", "environment:", ...c.env.map((e) => `  ${e.padEnd(w)}${ENV_HELP[e] ?? ""}`));
  }
  return lines.join("\n");
}
