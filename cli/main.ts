// The `pgseal` command line: dispatches to one module per subcommand; errors become one line + exit code.
import { parseArgs } from "node:util";
import { isPgsealError } from "../src/shared/errors.ts";
import type { Command } from "./command.ts";
import { backup } from "./commands/backup.ts";
import { checkBucketCommand, setupBucket } from "./commands/check-bucket.ts";
import { checkConfig } from "./commands/check-config.ts";
import { decrypt } from "./commands/decrypt.ts";
import { drill } from "./commands/drill.ts";
import { keygen } from "./commands/keygen.ts";
import { list } from "./commands/list.ts";
import { prune } from "./commands/prune.ts";
import { restore } from "./commands/restore.ts";
import { verify } from "./commands/verify.ts";
import { EXIT_INTERNAL, EXIT_OUTPUT_CLOSED, EXIT_USAGE, exitStatusOf } from "./exit-status.ts";

const COMMANDS: Record<string, Command> = { keygen, backup, list, restore, decrypt, verify, drill, prune, "check-config": checkConfig, "check-bucket": checkBucketCommand, "setup-bucket": setupBucket };


function help(): string {
  const lines = ["usage: pgseal <command> [options]", ""];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(13)} ${c.summary}`);
  lines.push("", "Run 'pgseal <command> --help' for its options. Settings also come from environment variables: see README.md.");
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const out = (l: string) => void process.stdout.write(l + "\n");
  const err = (l: string) => void process.stderr.write(l + "\n");
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    out(help());
    return name ? 0 : EXIT_USAGE;
  }
  const command = COMMANDS[name];
  if (!command) {
    err(`pgseal: unknown command '${name}'\n${help()}`);
    return EXIT_USAGE;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    out(command.usage);
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
    if (isPgsealError(e)) {
      err(`pgseal ${name}: error ${e.code}: ${e.message}`);
      return exitStatusOf(e.code);
    }
    if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS")) {
      err(`pgseal ${name}: error USAGE: ${e.message}\nusage: ${command.usage}`);
      return EXIT_USAGE;
    }
    err(`pgseal ${name}: unexpected error: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT_INTERNAL;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
