// The `pgseal` command line: dispatches to one module per subcommand; errors become one line + exit code.
import { parseArgs } from "node:util";
import { isPgsealError } from "../src/shared/errors.ts";
import type { Command } from "./command.ts";
import { backup } from "./commands/backup.ts";
import { checkBucketCommand, setupBucket } from "./commands/check-bucket.ts";
import { checkConfig } from "./commands/check-config.ts";
import { decrypt } from "./commands/decrypt.ts";
import { drill } from "./commands/drill.ts";
import { init } from "./commands/init.ts";
import { keygen } from "./commands/keygen.ts";
import { list } from "./commands/list.ts";
import { prune } from "./commands/prune.ts";
import { restore } from "./commands/restore.ts";
import { verify } from "./commands/verify.ts";
import { EXIT_INTERNAL, EXIT_OUTPUT_CLOSED, EXIT_USAGE, exitStatusOf } from "./exit-status.ts";
import { commandHelp, generalHelp, version } from "./help.ts";

export const COMMANDS: Record<string, Command> = {
  init,
  keygen,
  backup,
  list,
  restore,
  decrypt,
  verify,
  drill,
  prune,
  "check-config": checkConfig,
  "check-bucket": checkBucketCommand,
  "setup-bucket": setupBucket,
};

/** Control characters (a newline in a --name, say) shown as JSON escapes: an error stays one line. */
export function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this escapes
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

export async function main(argv: string[]): Promise<number> {
  const out = (l: string) => void process.stdout.write(l + "\n");
  const err = (l: string) => void process.stderr.write(l + "\n");
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-V" || name === "version") {
    out(`pgseal ${version()}`);
    return 0;
  }
  if (name === "help" && rest.length > 0) {
    const topic = COMMANDS[rest[0]];
    if (!topic) {
      err(`pgseal help: error USAGE: no command '${oneLine(rest[0])}'\n${generalHelp(COMMANDS)}`);
      return EXIT_USAGE;
    }
    out(commandHelp(rest[0], topic));
    return 0;
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    (name ? out : err)(generalHelp(COMMANDS));
    return name ? 0 : EXIT_USAGE;
  }
  const command = COMMANDS[name];
  if (!command) {
    err(`pgseal: error USAGE: unknown command '${oneLine(name)}'\n${generalHelp(COMMANDS)}`);
    return EXIT_USAGE;
  }
  // Before any `--` (after which arguments are operands, never options).
  const optionArgs = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
  if (optionArgs.includes("--help") || optionArgs.includes("-h")) {
    out(commandHelp(name, command));
    return 0;
  }
  // A reader that closes the pipe early makes stdout emit EPIPE: the write reports it (OUTPUT_CLOSED), not a crash.
  process.stdout.on("error", () => undefined);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const { values, positionals } = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
    await command.run({ flags: values as Record<string, string | boolean | undefined>, positionals, out, err, signal: abort.signal });
    return 0;
  } catch (e) {
    if (isPgsealError(e, "OUTPUT_CLOSED")) return EXIT_OUTPUT_CLOSED;
    // With --json the error is one JSON line on stderr too, so a script reads code and retryable without parsing prose.
    if (isPgsealError(e) && optionArgs.includes("--json")) {
      err(JSON.stringify({ command: name, error: { code: e.code, message: oneLine(e.message), retryable: e.retryable } }));
      return exitStatusOf(e.code);
    }
    if (isPgsealError(e)) {
      err(`pgseal ${name}: error ${e.code}: ${oneLine(e.message)}`);
      return exitStatusOf(e.code);
    }
    if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS")) {
      err(`pgseal ${name}: error USAGE: ${oneLine(e.message)}\nusage: ${command.usage} (pgseal ${name} --help lists every option)`);
      return EXIT_USAGE;
    }
    err(`pgseal ${name}: unexpected error: ${oneLine(e instanceof Error ? e.message : String(e))}`);
    return EXIT_INTERNAL;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
