// The repository explains itself: no document or comment points to a design text or file outside it.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../", import.meta.url).pathname;
const TEXT = /\.(ts|tsx|mjs|js|md|jsonc|json|toml|sh|yml|yaml)$|Dockerfile$/;
const files = execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" })
  .split("\n")
  .filter((f) => f && TEXT.test(f) && !f.startsWith("test/vectors/") && f !== "package-lock.json" && existsSync(join(ROOT, f)));

describe("the repository is self-contained", () => {
  it("has its own architecture document", () => {
    expect(existsSync(join(ROOT, "docs/ARCHITECTURE.md"))).toBe(true);
  });

  it("cites no outside design document, by section or by file name", () => {
    const hits = files.flatMap((f) => (/\bDESIGN(\s*§|\.md)/.test(readFileSync(join(ROOT, f), "utf8")) ? [f] : []));
    expect(hits).toEqual([]);
  });

  it("has no relative path that leaves the repository (../shared/… resolving outside it)", () => {
    const outside: string[] = [];
    for (const f of files) {
      for (const m of readFileSync(join(ROOT, f), "utf8").matchAll(/(?:\.\.\/)+[\w.-]+(?:\/[\w.-]+)*/g)) {
        const target = resolve(dirname(join(ROOT, f)), m[0]);
        if (relative(ROOT, target).startsWith("..")) outside.push(`${f}: ${m[0]}`);
      }
    }
    expect(outside).toEqual([]);
  });
});
