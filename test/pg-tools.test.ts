// Tool discovery across installed majors (the newest wins, a minimum can be asked for) and the version rules restores go by.
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { archiveVersionWrittenBy, findPgTools, findRestoreTools, minRestoreMajor, readArchiveVersion } from "../container/src/pg-tools.ts";
import { needsPreambleFilter, preambleFilter } from "../container/src/stages/pg-restore.ts";
import { isPgsealError } from "../src/shared/errors.ts";
import { pgBinDir } from "./harness/pg-major.ts";

const saved = { PATH: process.env.PATH, PGSEAL_PG_BIN: process.env.PGSEAL_PG_BIN };

afterEach(() => {
  process.env.PATH = saved.PATH;
  if (saved.PGSEAL_PG_BIN === undefined) delete process.env.PGSEAL_PG_BIN;
  else process.env.PGSEAL_PG_BIN = saved.PGSEAL_PG_BIN;
});

/** Discovery as on a machine with PostgreSQL 15 installed (pg_config, /usr/lib/postgresql/15) and 18 on PATH, after it. */
function with15And18OnPath(): void {
  delete process.env.PGSEAL_PG_BIN;
  process.env.PATH = `${pgBinDir(15)}:${pgBinDir(18)}:${saved.PATH}`;
}

describe("findPgTools across installed majors", () => {
  it("takes the newest usable major, not the first directory it finds", async () => {
    with15And18OnPath();
    const tools = await findPgTools({ needServer: true });
    expect(tools.major).toBe(18);
    expect(tools.binDir).toBe(pgBinDir(18));
  });

  it("with minMajor, skips the older ones and names them when none is new enough", async () => {
    with15And18OnPath();
    expect((await findPgTools({ minMajor: 16 })).major).toBe(18);
    const error = await findPgTools({ minMajor: 19 }).catch((e: unknown) => e);
    expect(isPgsealError(error, "PG_TOOLS_MISSING")).toBe(true);
    expect((error as Error).message).toMatch(/found only older than 19: .*\(18\.\d+\)/);
  });

  it("an explicit directory (binDir or PGSEAL_PG_BIN) is used alone, even when a newer major is installed", async () => {
    with15And18OnPath();
    expect((await findPgTools({ binDir: pgBinDir(15) })).major).toBe(15);
    process.env.PGSEAL_PG_BIN = pgBinDir(15);
    expect((await findPgTools()).major).toBe(15);
  });

  it("findRestoreTools wants a pg_restore that reads the archive, and says PG_RESTORE_TOO_OLD with the fix otherwise", async () => {
    with15And18OnPath();
    expect((await findRestoreTools("18.6")).major).toBe(18);
    process.env.PGSEAL_PG_BIN = pgBinDir(15);
    expect((await findRestoreTools("15.14")).major).toBe(15);
    const error = await findRestoreTools("17.2").catch((e: unknown) => e);
    expect(isPgsealError(error, "PG_RESTORE_TOO_OLD")).toBe(true);
    expect((error as Error).message).toMatch(/pg_dump 17\.2 \(archive format 1\.16\).*pg_restore 15\.\d+.*PostgreSQL 17 or newer/);
  });
});

describe("archive versions", () => {
  it("reads the version from an archive's first bytes, and nothing from other bytes", () => {
    expect(readArchiveVersion(new Uint8Array([0x50, 0x47, 0x44, 0x4d, 0x50, 1, 16, 0]))).toEqual({ major: 1, minor: 16 });
    expect(readArchiveVersion(new TextEncoder().encode("-- PostgreSQL dump"))).toBeUndefined();
    expect(readArchiveVersion(new Uint8Array([0x50, 0x47]))).toBeUndefined();
  });

  it("knows which pg_dump writes which format and the oldest pg_restore that reads it", () => {
    expect([12, 15, 16, 17, 18].map((m) => archiveVersionWrittenBy(m).minor)).toEqual([14, 14, 15, 16, 16]);
    expect(minRestoreMajor({ major: 1, minor: 16 })).toBe(17);
    expect(minRestoreMajor({ major: 1, minor: 15 })).toBe(16);
    expect(minRestoreMajor({ major: 1, minor: 14 })).toBe(12);
    expect(minRestoreMajor("18.6")).toBe(17);
    expect(minRestoreMajor("15.14")).toBe(12);
    expect(minRestoreMajor({ major: 1, minor: 17 })).toBe(19);
  });

  it("filters the preamble only for tools of 17+ restoring into servers older than 17", () => {
    expect(needsPreambleFilter(18, 15)).toBe(true);
    expect(needsPreambleFilter(17, 16)).toBe(true);
    expect(needsPreambleFilter(18, 17)).toBe(false);
    expect(needsPreambleFilter(15, 15)).toBe(false);
  });
});

describe("preambleFilter", () => {
  const preamble = "--\n-- PostgreSQL database dump «données»\n--\n\nBEGIN;\n\nSET statement_timeout = 0;\nSET transaction_timeout = 0;\nSET client_encoding = 'UTF8';\n\n";
  const body = "--\n-- Name: tété; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE t (x text);\n\nCOPY public.t (x) FROM stdin;\nSET transaction_timeout = 0;\nça 🐘\n\\.\n\nCOMMIT;\n";

  async function filtered(text: string, chunk: number): Promise<string> {
    const bytes = Buffer.from(text, "utf8");
    const chunks = [];
    for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
    let out = "";
    for await (const c of Readable.from(chunks).pipe(preambleFilter())) out += c;
    return out;
  }

  it("drops the preamble's SET transaction_timeout and leaves the same text in table data alone, in any chunking", async () => {
    for (const chunk of [1, 7, 64, 1 << 20]) {
      expect(await filtered(preamble + body, chunk)).toBe(preamble.replace("SET transaction_timeout = 0;\n", "") + body);
    }
  });

  it("passes a script without the setting through unchanged", async () => {
    const old = preamble.replace("SET transaction_timeout = 0;\n", "");
    expect(await filtered(old + body, 5)).toBe(old + body);
    expect(await filtered("", 5)).toBe("");
  });
});
