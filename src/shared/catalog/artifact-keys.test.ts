// Tests for object key naming: building, parsing, and refusing what cannot be named safely.
import { describe, expect, it } from "vitest";
import { backupKeys, databasePrefix, normalizePrefix, parseKey, reportKeys } from "./artifact-keys.ts";

const AT = new Date("2026-03-09T04:05:06.789Z");

describe("artifact keys", () => {
  it("names the artifact and manifest under prefix/db/YYYY/MM with a UTC second stamp", () => {
    const k = backupKeys("backups/prod", "app", AT, "zstd");
    expect(k.artifact).toBe("backups/prod/app/2026/03/app_20260309T040506Z.dump.zst.pgseal");
    expect(k.manifest).toBe("backups/prod/app/2026/03/app_20260309T040506Z.manifest.json");
    expect(backupKeys("", "app", AT, "gzip").artifact).toBe("app/2026/03/app_20260309T040506Z.dump.gz.pgseal");
  });

  it("parses what it builds back to the same database, time and compression", () => {
    for (const compression of ["zstd", "gzip"] as const) {
      const k = backupKeys("/a//b/", "my-db_1", AT, compression);
      const p = parseKey(k.artifact)!;
      expect(p).toMatchObject({ prefix: "a/b", db: "my-db_1", kind: "artifact", compression, stem: k.stem });
      expect(p.createdAt.toISOString()).toBe("2026-03-09T04:05:06.000Z");
      expect(parseKey(k.manifest)).toMatchObject({ kind: "manifest", stem: k.stem });
    }
  });

  it("ignores keys it did not name, including a month folder that disagrees with the stamp", () => {
    expect(parseKey("app/2026/03/other_20260309T040506Z.manifest.json")).toBeNull();
    expect(parseKey("app/2026/04/app_20260309T040506Z.manifest.json")).toBeNull();
    expect(parseKey("app/2026/02/app_20260230T000000Z.manifest.json")).toBeNull();
    expect(parseKey("reports/2026-03.json")).toBeNull();
  });

  it("refuses database names and prefixes that would escape their folder", () => {
    expect(() => backupKeys("", "../x", AT, "zstd")).toThrow(/not usable/);
    expect(() => backupKeys("", "a/b", AT, "zstd")).toThrow(/not usable/);
    expect(() => normalizePrefix("a/../b")).toThrow(/must not contain/);
    expect(databasePrefix("p", "app")).toBe("p/app/");
  });

  it("puts monthly reports under prefix/reports and validates the month", () => {
    expect(reportKeys("p", "2026-11")).toEqual({ html: "p/reports/2026-11.html", json: "p/reports/2026-11.json" });
    expect(() => reportKeys("p", "2026-13")).toThrow(/YYYY-MM/);
  });
});
