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
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  run(ctx: CommandContext): Promise<void>;
}
