// `pgseal check-config` as a real process: the shipped wrangler.jsonc, broken configs named field by field, secrets from an env file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseEnv } from "node:util";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseJsonc } from "../cli/jsonc.ts";
import { generateKey } from "../src/shared/format/keyring.ts";
import { pgseal } from "./harness/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "pgseal-check-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe("parseJsonc", () => {
  it("drops comments and trailing commas but keeps // and /* inside strings", () => {
    const text = `{
      // a comment
      "url": "https://example.com/a//b", /* block */ "glob": "/* not a comment */",
      "list": [1, 2, ], "quote": "a \\" // b",
    }`;
    expect(parseJsonc(text)).toEqual({ url: "https://example.com/a//b", glob: "/* not a comment */", list: [1, 2], quote: 'a " // b' });
  });

  it("names the line and column of the first syntax error", () => {
    expect(() => parseJsonc(`{\n  // ok\n  "a": 1\n  "b": 2\n}`)).toThrow(/^line 4 column 3: comma expected$/);
    expect(() => parseJsonc(`{"a": [1, 2}`)).toThrow(/^line 1 column 12: comma expected$/);
    expect(() => parseJsonc(`{"a": "unterminated\n}`)).toThrow(/^line 1 column 7: /);
    expect(() => parseJsonc(`{"a": 1} x`)).toThrow(/^line 1 column 10: invalid symbol$/);
    expect(() => parseJsonc(`{"a": 1} 2`)).toThrow(/^line 1 column 10: end of file expected$/);
    expect(() => parseJsonc("")).toThrow(/^line 1 column 1: value expected/);
  });
});

describe("env files as check-config reads them (node:util parseEnv)", () => {
  it("reads quoted, bare, exported and multi-line values, skipping comments", () => {
    expect(parseEnv(`# c\nA='{"x": "y"}'\nB="two\\nlines"\nC=bare # trailing\n\nexport D=d\nE="multi\nline"\r\nF=crlf\r\n`)).toEqual({
      A: '{"x": "y"}',
      B: "two\nlines",
      C: "bare",
      D: "d",
      E: "multi\nline",
      F: "crlf",
    });
  });
});

describe("pgseal check-config", () => {
  it("accepts the shipped wrangler.jsonc and lists the secrets it needs", async () => {
    const r = await pgseal(["check-config"], {});
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok: 1 database\(s\), 1 destination\(s\) in wrangler\.jsonc/);
    for (const s of ["DATABASE_URL_DEMO", "S3_ACCESS_KEY_ID_R2", "S3_SECRET_ACCESS_KEY_R2", "PGSEAL_KEYRING", "ADMIN_TOKEN"]) expect(r.stderr).toContain(s);
  });

  it("warns about template placeholders left in a destination (the shipped ACCOUNT_ID, <ACCOUNT_ID>)", async () => {
    const r = await pgseal(["check-config"], {});
    expect(r.stderr).toContain("⚠ destinations.r2.endpoint: 'ACCOUNT_ID' looks like a placeholder: replace it with your Cloudflare account id");
    expect(r.stdout).toMatch(/but 1 placeholder\(s\) to replace before deploying/);
    const angle = file("angle.jsonc", JSON.stringify({ vars: { PGSEAL_CONFIG: { destinations: { r2: { endpoint: "https://<ACCOUNT_ID>.r2.cloudflarestorage.com", bucket: "b" } }, databases: {} } } }));
    const j = await pgseal(["check-config", "--config", angle, "--json"], {});
    const res = JSON.parse(j.stdout) as { warnings: { path: string; message: string }[] };
    expect(res.warnings.map((w) => w.path)).toContain("destinations.r2.endpoint");
    const real = file("real.jsonc", JSON.stringify({ vars: { PGSEAL_CONFIG: { destinations: { r2: { endpoint: "https://0123abcd.r2.cloudflarestorage.com", bucket: "b" } }, databases: {} } } }));
    expect(JSON.parse((await pgseal(["check-config", "--config", real, "--json"], {})).stdout).warnings).toEqual([]);
  });

  it("names every bad field by its path and exits 1", async () => {
    const config = file(
      "bad.jsonc",
      JSON.stringify({
        vars: {
          PGSEAL_CONFIG: {
            destinations: { r2: { endpoint: "ftp://x", bucket: "" } },
            databases: { shop: { schedule: "61 * * * *", destination: "b2", compresion: "zstd" } },
            maxConcurrentJobs: 0,
          },
        },
      }),
    );
    const r = await pgseal(["check-config", "--config", config, "--json"], {});
    expect(r.code).toBe(1);
    const paths = (JSON.parse(r.stdout) as { problems: { path: string }[] }).problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining(["destinations.r2.endpoint", "destinations.r2.bucket", "databases.shop.schedule", "databases.shop.destination", "databases.shop.compresion", "maxConcurrentJobs"]),
    );
    expect(paths.some((p) => p.startsWith("secrets."))).toBe(false);
    // --json: the error is one JSON line on stderr too.
    expect(JSON.parse(r.stderr.trim())).toMatchObject({ command: "check-config", error: { code: "CONFIG_INVALID", message: expect.stringMatching(/^\d+ problem\(s\) in /), retryable: false } });
  });

  it("checks secrets from an env file without printing their values", async () => {
    const password = "s3cr3t-Pa55word";
    const env = file(
      "dev.vars",
      [
        `DATABASE_URL_DEMO='mysql://app:${password}@db.example.com/app'`,
        `S3_ACCESS_KEY_ID_R2=AKIAEXAMPLE`,
        `S3_SECRET_ACCESS_KEY_R2='${password}'`,
        `PGSEAL_KEYRING='${generateKey("k1").entry}'`,
      ].join("\n"),
    );
    const r = await pgseal(["check-config", "--env-file", env], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("secrets.DATABASE_URL_DEMO: must be a postgres:// or postgresql:// URL");
    expect(r.stderr).toContain("secrets.ADMIN_TOKEN: missing");
    expect(r.stdout + r.stderr).not.toContain(password);
    expect(r.stdout + r.stderr).not.toContain("AKIAEXAMPLE");

    const good = file("good.vars", readEnv(env).replace("mysql://", "postgres://") + "\nADMIN_TOKEN=abcdefghijklmnopqrstuvwxyz\n");
    const ok = await pgseal(["check-config", "--env-file", good], {});
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("ok: 1 database(s)");
  });

  it("names the line and column of a JSONC syntax error and exits 1", async () => {
    const config = file("broken.jsonc", `{\n  "vars": {\n    "PGSEAL_CONFIG": {} // fine\n    "OTHER": 1\n  }\n}\n`);
    const r = await pgseal(["check-config", "--config", config], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${config} is not valid JSONC: line 4 column 5: comma expected`);
  });

  it("says which file it cannot read", async () => {
    const r = await pgseal(["check-config", "--config", join(dir, "missing.jsonc")], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot read the wrangler config ${join(dir, "missing.jsonc")}: ENOENT`);
  });
});

function readEnv(p: string): string {
  return readFileSync(p, "utf8");
}
