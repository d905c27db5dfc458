// A new user's first commands: `pgseal init` keeps every key in a private file, and every command explains itself.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../cli/main.ts";
import { parseKeyring } from "../src/shared/format/keyring.ts";
import { parsePrivateKey, parseRecipient } from "../src/shared/format/recipient.ts";
import { pgseal } from "./harness/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "pgseal-first-day-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mode = (p: string) => statSync(p).mode & 0o777;

describe("pgseal init", () => {
  it("writes a key custody pair and an admin token to 0600 files in a 0700 dir and prints the exact wrangler commands", async () => {
    const out = join(dir, "custody");
    const r = await pgseal(["init", "--dir", out], {});
    expect(r.code, r.stderr).toBe(0);
    expect(mode(out)).toBe(0o700);
    for (const f of ["recipient.pub", "private.key", "admin-token"]) expect(mode(join(out, f)), f).toBe(0o600);
    const pub = parseRecipient(readFileSync(join(out, "recipient.pub"), "utf8"));
    const priv = await parsePrivateKey(readFileSync(join(out, "private.key"), "utf8"));
    // The two halves belong together: the private key's public half is the recipient.
    expect(Buffer.from(priv.publicBytes).equals(Buffer.from(pub.bytes))).toBe(true);
    const token = readFileSync(join(out, "admin-token"), "utf8");
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.stdout).toContain(`npx wrangler secret put PGSEAL_RECIPIENT < ${out}/recipient.pub`);
    expect(r.stdout).toContain(`npx wrangler secret put ADMIN_TOKEN < ${out}/admin-token`);
    expect(r.stdout).toContain(`export ADMIN_TOKEN="$(cat ${out}/admin-token)"`);
    expect(r.stdout).toMatch(/back up: .*private\.key/);
    // The private half never goes to the deployment, and no secret is printed.
    expect(r.stdout).not.toMatch(/secret put \w+ < .*private\.key/);
    expect(r.stdout + r.stderr).not.toContain(token);
    expect(r.stdout + r.stderr).not.toContain(readFileSync(join(out, "private.key"), "utf8").split(":")[2]);
  });

  it("refuses to overwrite: a second run fails FILE_EXISTS and leaves the first keys as they were", async () => {
    const out = join(dir, "twice");
    expect((await pgseal(["init", "--dir", out], {})).code).toBe(0);
    const before = readFileSync(join(out, "private.key"), "utf8");
    const r = await pgseal(["init", "--dir", out], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^pgseal init: error FILE_EXISTS: .*private\.key.* never overwrites keys/m);
    expect(readFileSync(join(out, "private.key"), "utf8")).toBe(before);
    // The keyring set shares admin-token with the custody set: refused too, nothing half-written.
    const k = await pgseal(["init", "--dir", out, "--keyring"], {});
    expect(k.code).toBe(1);
    expect(() => statSync(join(out, "keyring"))).toThrow();
  });

  it("--keyring writes a keyring for PGSEAL_KEYRING instead", async () => {
    const out = join(dir, "keyring");
    const r = await pgseal(["init", "--dir", out, "--keyring", "--json"], {});
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { mode: string; commands: string[] };
    expect(res.mode).toBe("keyring");
    expect(res.commands).toEqual([`npx wrangler secret put PGSEAL_KEYRING < ${out}/keyring`, `npx wrangler secret put ADMIN_TOKEN < ${out}/admin-token`]);
    expect(mode(join(out, "keyring"))).toBe(0o600);
    expect(parseKeyring(readFileSync(join(out, "keyring"), "utf8")).ids).toHaveLength(1);
  });
});

describe("the CLI explains itself", () => {
  it("prints the version from package.json", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const r = await pgseal([flag], {});
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(`pgseal ${pkg.version}`);
    }
  });

  it.each(Object.keys(COMMANDS).map((n) => [n, n]))("'pgseal %s --help' and 'pgseal help %s' list every flag (global ones included) and environment variable", async (name: string) => {
    const a = await pgseal([name, "--help"], {});
    const b = await pgseal(["help", name], {});
    expect(a.code, a.stderr).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    for (const flag of Object.keys(COMMANDS[name].options)) expect(a.stdout, flag).toMatch(new RegExp(`^  (-\\w, )?--${flag}\\b.* \\S`, "m"));
    for (const env of COMMANDS[name].env ?? []) expect(a.stdout, env).toMatch(new RegExp(`^  ${env} +\\S`, "m"));
  });

  it("names the variables each bucket command reads, e.g. restore", async () => {
    const r = await pgseal(["help", "restore"], {});
    for (const v of ["PGSEAL_TARGET_URL", "PGSEAL_S3_ENDPOINT", "PGSEAL_S3_SECRET_ACCESS_KEY", "PGSEAL_PREFIX", "PGSEAL_KEYRING", "PGSEAL_PRIVATE_KEY_FILE", "PGSEAL_PG_BIN"])
      expect(r.stdout).toContain(v);
    expect(r.stdout).toContain("--prefix");
  });

  it("prints an error as one JSON line with its code and retryable flag under --json", async () => {
    const r = await pgseal(["restore", "--json", "--name", "x\ny", "--target", "postgres://u@127.0.0.1:1/db"], {
      PGSEAL_S3_ENDPOINT: "http://127.0.0.1:1",
      PGSEAL_S3_BUCKET: "b",
      PGSEAL_S3_ACCESS_KEY_ID: "k",
      PGSEAL_S3_SECRET_ACCESS_KEY: "s",
      PGSEAL_KEYRING: "",
    });
    expect(r.code).toBe(2); // no key given: USAGE
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]);
    expect(parsed).toMatchObject({ command: "restore", error: { code: expect.stringMatching(/^[A-Z_]+$/), retryable: expect.any(Boolean) } });
  });

  it("refuses a compression level its algorithm does not have, naming the range, before it connects to anything", async () => {
    const env = {
      PGSEAL_DATABASE_URL: "postgres://u@127.0.0.1:1/db",
      PGSEAL_S3_ENDPOINT: "http://127.0.0.1:1",
      PGSEAL_S3_BUCKET: "b",
      PGSEAL_S3_ACCESS_KEY_ID: "k",
      PGSEAL_S3_SECRET_ACCESS_KEY: "s",
      PGSEAL_KEYRING: "",
    };
    const gzip = await pgseal(["backup", "--compression", "gzip", "--level", "12"], env);
    expect(gzip.code).toBe(2);
    expect(gzip.stderr.trim()).toBe("pgseal backup: error USAGE: --level must be an integer 1-9 for gzip, not '12'");
    const zstd = await pgseal(["backup", "--level", "20"], env);
    expect(zstd.stderr.trim()).toBe("pgseal backup: error USAGE: --level must be an integer 1-19 for zstd, not '20'");
  });

  it("keeps an error on one line when a value holds a newline", async () => {
    const r = await pgseal(["help", "no\nsuch"], {});
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe("pgseal help: error USAGE: no command 'no\\nsuch'");
  });
});
