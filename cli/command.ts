// The shape every `pgseal` subcommand implements, and what main.ts hands it.
import type { ParseArgsConfig } from "node:util";
import type { Flags } from "./options.ts";

export interface CommandContext {
  flags: Flags;
  positionals: string[];
  /** stdout: results only (keys, JSON), so the CLI composes with pipes. */
  out: (line: string) => void;
  /** stderr: notices, progress and advice. */
  err: (line: string) => void;
  signal: AbortSignal;
}

export interface Command {
  summary: string;
  /** One line: `pgseal NAME [options]`. */
  usage: string;
  /** Further lines of `pgseal NAME --help` (what it does, exit status). */
  description?: string[];
  /** One line per option in `options` that is not a global flag (options.ts GLOBAL_FLAG_HELP). */
  flagHelp?: Record<string, string>;
  /** Environment variables it reads (options.ts ENV_HELP describes each). */
  env?: readonly string[];
  options: NonNullable<ParseArgsConfig["options"]>;
  run(ctx: CommandContext): Promise<void>;
}
