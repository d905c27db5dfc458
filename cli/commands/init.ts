// `pgseal init`: the deployment's secrets written to private files first, so no key ever exists only inside a write-only secret.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PgsealError } from "../../src/shared/errors.ts";
import { generateKey } from "../../src/shared/format/keyring.ts";
import { generateRecipient } from "../../src/shared/format/recipient.ts";
import type { Command } from "../command.ts";

const ADMIN_TOKEN_BYTES = 32;
const DEFAULT_DIR = "pgseal-secrets";

interface SecretFile {
  file: string;
  /** The Worker secret it becomes; undefined for the half that must never reach the deployment. */
  secret?: string;
  text: string;
  about: string;
}

/** Refuses when any file exists (checked before writing anything, then `wx` against races); a half-written set is removed. */
function writeAll(dir: string, files: SecretFile[]): void {
  const existing = files.map((f) => join(dir, f.file)).filter((p) => existsSync(p));
  const refuse = (paths: string[]) =>
    new PgsealError(
      "FILE_EXISTS",
      `${paths.join(", ")} already exist${paths.length === 1 ? "s" : ""}: pgseal init never overwrites keys. Use another --dir, or move the old files away once nothing needs them`,
    );
  if (existing.length > 0) throw refuse(existing);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const written: string[] = [];
  try {
    for (const f of files) {
      const path = join(dir, f.file);
      // No trailing newline: `wrangler secret put NAME < file` stores stdin as it is.
      writeFileSync(path, f.text, { flag: "wx", mode: 0o600 });
      chmodSync(path, 0o600); // the mode given to open() is narrowed by the umask, never widened; make it exact
      written.push(path);
    }
  } catch (e) {
    for (const p of written) rmSync(p, { force: true });
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw refuse([(e as NodeJS.ErrnoException).path ?? dir]);
    throw e;
  }
}

export const init: Command = {
  summary: "create the deployment's key and admin token as private files, and print the wrangler commands that install them",
  usage: "pgseal init [--dir DIR] [--keyring] [--id ID] [--json]",
  description: [
    "Writes, each as a 0600 file in DIR (default ./pgseal-secrets, created 0700), never overwriting:",
    "  default (key custody, recommended): recipient.pub (→ PGSEAL_RECIPIENT), private.key (keep OFFLINE), admin-token (→ ADMIN_TOKEN)",
    "  --keyring: keyring (→ PGSEAL_KEYRING, and keep a copy offline), admin-token (→ ADMIN_TOKEN)",
    "Then prints the `npx wrangler secret put NAME < FILE` commands and what to back up.",
  ],
  flagHelp: {
    dir: "directory for the files (default ./pgseal-secrets)",
    keyring: "a symmetric keyring instead of a key custody pair (the deployment can then read its own backups)",
    id: "key id (default: r<date> for a pair, k<date><random> for a keyring entry)",
  },
  options: { dir: { type: "string" }, keyring: { type: "boolean" }, id: { type: "string" }, json: { type: "boolean" } },
  async run({ flags, out }) {
    const dir = typeof flags.dir === "string" && flags.dir !== "" ? flags.dir : DEFAULT_DIR;
    const id = typeof flags.id === "string" ? flags.id : undefined;
    const token = randomBytes(ADMIN_TOKEN_BYTES).toString("base64url");
    const files: SecretFile[] = [];
    if (flags.keyring) {
      files.push({
        file: "keyring",
        secret: "PGSEAL_KEYRING",
        text: generateKey(id).entry,
        about: "the keyring: encrypts and decrypts every backup. BACK IT UP OFFLINE NOW: without it nothing restores",
      });
    } else {
      const pair = await generateRecipient(id ?? `r${new Date().toISOString().slice(0, 10).replace(/-/g, "")}`);
      files.push({ file: "recipient.pub", secret: "PGSEAL_RECIPIENT", text: pair.publicEntry, about: "the public half: the deployment seals backups to it and cannot read them" });
      files.push({ file: "private.key", text: pair.privateEntry, about: "the private half: the ONLY key that restores. BACK IT UP OFFLINE NOW (two copies), then delete it from this machine" });
    }
    files.push({ file: "admin-token", secret: "ADMIN_TOKEN", text: token, about: "the admin API and dashboard token" });
    writeAll(dir, files);
    const path = (f: SecretFile) => join(dir, f.file);
    const commands = files.filter((f) => f.secret).map((f) => `npx wrangler secret put ${f.secret} < ${path(f)}`);
    if (flags.json) {
      out(JSON.stringify({ dir, mode: flags.keyring ? "keyring" : "custody", files: files.map((f) => ({ path: path(f), secret: f.secret ?? null })), commands }));
      return;
    }
    out(`wrote (each readable by you only, mode 0600):`);
    for (const f of files) out(`  ${path(f).padEnd(Math.max(...files.map((x) => path(x).length)))}  ${f.about}`);
    out("");
    out("install them as Worker secrets:");
    for (const c of commands) out(`  ${c}`);
    out("");
    out("use the token from this shell:");
    out(`  export ADMIN_TOKEN="$(cat ${join(dir, "admin-token")})"`);
    out("");
    out(
      flags.keyring
        ? `back up: ${join(dir, "keyring")} (offline, e.g. a password manager and a printed copy). Lose it and every backup is unreadable; leak it and every backup is readable.`
        : `back up: ${join(dir, "private.key")} (offline, e.g. a password manager and a printed copy). Restore with: npx pgseal restore … --private-key-file ${join(dir, "private.key")}`,
    );
  },
};
