// `pgseal keygen`: a new 32-byte master key entry for the keyring.
import { generateKey } from "../../src/shared/keyring.ts";
import type { Command } from "../command.ts";

export const keygen: Command = {
  summary: "print a new keyring entry (<id>:<base64 key>) on stdout",
  usage: "pgseal keygen [--id <key id>]",
  options: { id: { type: "string" } },
  async run({ flags, out, err }) {
    const { id, entry } = generateKey(typeof flags.id === "string" ? flags.id : undefined);
    out(entry);
    err(`new key '${id}'. Store it where you keep secrets (PGSEAL_KEYRING, wrangler secret put PGSEAL_KEYRING).`);
    err("To rotate, append it to the existing keyring after a comma: the last key encrypts, all keys decrypt.");
    err("Without this key your backups cannot be restored by anyone, including pgseal.");
  },
};
