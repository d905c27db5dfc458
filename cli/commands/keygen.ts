// `pgseal keygen`: a new keyring entry, or with --public an X25519 key pair for key custody mode.
import { generateKey } from "../../src/shared/format/keyring.ts";
import { generateRecipient } from "../../src/shared/format/recipient.ts";
import type { Command } from "../command.ts";

export const keygen: Command = {
  summary: "print a new keyring entry (<id>:<base64 key>); with --public, a key pair for key custody mode",
  usage: "pgseal keygen [--id <key id>] [--public]",
  description: ["For a new deployment prefer 'pgseal init': it writes the keys to private files instead of the terminal."],
  flagHelp: { id: "key id (default: k<date><random>, or r<date> with --public)", public: "an X25519 pair for key custody mode (line 1 public, line 2 private)" },
  options: { id: { type: "string" }, public: { type: "boolean" } },
  async run({ flags, out, err }) {
    const id = typeof flags.id === "string" ? flags.id : undefined;
    if (flags.public) {
      const pair = await generateRecipient(id ?? `r${new Date().toISOString().slice(0, 10).replace(/-/g, "")}`);
      // Two labelled lines: the prefixes say which half is which, so they cannot be swapped unnoticed.
      out(pair.publicEntry);
      out(pair.privateEntry);
      err("line 1 (pgseal-public-v1:…): the deployment's half: wrangler secret put PGSEAL_RECIPIENT (it can then write backups it cannot read).");
      err("line 2 (pgseal-private-v1:…): keep it OFFLINE; restore with pgseal restore --private-key-file <file>. Without it no backup sealed to this key can be restored by anyone.");
      err("To rotate: make a new pair, put the new public half; keep every old private half as long as backups sealed to it exist.");
      return;
    }
    const k = generateKey(id);
    out(k.entry);
    err(`new key '${k.id}'. Store it where you keep secrets (PGSEAL_KEYRING, wrangler secret put PGSEAL_KEYRING).`);
    err("To rotate, append it to the existing keyring after a comma: the last key encrypts, all keys decrypt.");
    err("Without this key your backups cannot be restored by anyone, including pgseal.");
  },
};
