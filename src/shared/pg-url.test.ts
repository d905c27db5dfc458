// Tests for connection URL handling: Neon rewrite, sslmode kept, password kept out of argv and text.
import { describe, expect, it } from "vitest";
import { libpqEnv, parsePgUrl } from "./pg-url.ts";

describe("parsePgUrl", () => {
  it("rewrites a Neon pooled host to the direct endpoint and keeps sslmode", () => {
    const c = parsePgUrl("postgresql://alex:s3cr3t-pw@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/neondb?sslmode=require");
    expect(c.host).toBe("ep-cool-darkness-123456.us-east-2.aws.neon.tech");
    expect(c.urlWithoutPassword).toBe("postgresql://alex@ep-cool-darkness-123456.us-east-2.aws.neon.tech/neondb?sslmode=require");
    expect(c.notices[0]).toMatch(/pooled host .*-pooler.* rewritten to the direct endpoint/);
    expect(c.redacted).toBe("postgresql://alex:***@ep-cool-darkness-123456.us-east-2.aws.neon.tech/neondb?sslmode=require");
  });

  it("moves the password into PGPASSWORD and out of the URL, decoding percent escapes", () => {
    const c = parsePgUrl("postgres://u:p%40ss%2Fw@db.example.com:6543/app");
    expect(c.urlWithoutPassword).not.toContain("p%40ss");
    expect(libpqEnv(c)).toEqual({ PGPASSWORD: "p@ss/w" });
    expect(c.redacted).not.toContain("p%40ss");
    expect(c.database).toBe("app");
  });

  it("leaves non-pooler hosts alone and gives no notice", () => {
    const c = parsePgUrl("postgres://u@127.0.0.1:5432/app");
    expect(c.notices).toEqual([]);
    expect(libpqEnv(c)).toEqual({});
  });

  it("rejects a non-postgres URL, a missing database and garbage with a message that hides the password", () => {
    expect(() => parsePgUrl("mysql://u:hunter22@h/db")).toThrow(/must start with postgres:\/\//);
    expect(() => parsePgUrl("postgres://u:hunter22@h")).toThrow(/names no database/);
    expect(() => parsePgUrl("not a url hunter22")).toThrow(/is not a URL/);
    for (const bad of ["mysql://u:hunter22@h/db", "postgres://u:hunter22@h", "not a url hunter22"]) {
      try {
        parsePgUrl(bad);
      } catch (e) {
        expect(String((e as Error).message)).not.toContain("hunter22");
      }
    }
  });
});
