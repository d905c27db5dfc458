// Every reader enforces the manifest: a wrong sha256 or a stand-in artifact fails verify, decrypt, restore and drill, on every kind of artifact.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../container/src/backup.ts";
import { nodeHashing } from "../container/src/node-hash.ts";
import { countUserObjects } from "../container/src/preflight.ts";
import { findPgTools } from "../container/src/pg-tools.ts";
import { toHex } from "../src/shared/bytes.ts";
import { createDecryptStream, createEncryptStream, readHeader } from "../src/shared/format/format.ts";
import { parseKeyring, generateKey } from "../src/shared/format/keyring.ts";
import { parseManifest, serializeManifest, type Manifest } from "../src/shared/catalog/manifest.ts";
import { parsePgUrl } from "../src/shared/pg-url.ts";
import { generateRecipient, parseRecipient } from "../src/shared/format/recipient.ts";
import { S3Client, type S3Target } from "../src/shared/s3/s3.ts";
import { pgseal, pgsealEnv } from "./harness/cli.ts";
import { startPostgres, type PgCluster } from "./harness/postgres.ts";
import { freshBucket } from "./harness/use-s3.ts";

const SEED_SQL = new URL("./fixtures/seed.sql", import.meta.url).pathname;

let pg: PgCluster;
let target: S3Target;
let client: S3Client;
let sourceUrl: string;
let keyringEntry: string;
let recipient: { publicEntry: string; privateEntry: string };
let scratch: string;

interface Case {
  name: string;
  compression: "zstd" | "gzip";
  /** undefined: the compressed stream's exact length, so its frame ends on a segment boundary. */
  segmentSize?: number;
  v2?: boolean;
}

// One and many segments, both codecs, a frame that ends exactly at a segment boundary, both format versions.
const CORPUS: Case[] = [
  { name: "zstd-one-segment", compression: "zstd", segmentSize: 16 * 1_048_576 },
  { name: "zstd-many-segments", compression: "zstd", segmentSize: 4096 },
  { name: "gzip-many-segments", compression: "gzip", segmentSize: 4096 },
  { name: "zstd-frame-at-boundary", compression: "zstd" },
  { name: "v2-zstd", compression: "zstd", segmentSize: 8192, v2: true },
];

async function backup(c: Case, prefix: string, segmentSize: number): Promise<Manifest> {
  const keys = c.v2 ? { recipient: parseRecipient(recipient.publicEntry) } : { keyring: parseKeyring(keyringEntry) };
  const r = await runBackup({ db: c.name, databaseUrl: sourceUrl, s3: target, prefix, compression: c.compression, segmentSize, ...keys });
  return r.manifest;
}

/**
 * A backup of the case. For the boundary case, the stored backup is re-encrypted with a segment
 * size equal to its compressed length (pg_dump's timestamps make that length differ run to run),
 * so its zstd frame ends exactly at the end of a segment.
 */
async function backupCase(c: Case, prefix: string): Promise<Manifest> {
  if (c.segmentSize) return backup(c, prefix, c.segmentSize);
  const m = await backup(c, prefix, 16 * 1_048_576);
  const keyring = parseKeyring(keyringEntry);
  const stored = (await client.get(m.artifact.key)).body;
  const compressed = new Uint8Array(await new Response(stored.pipeThrough(createDecryptStream(keyring))).arrayBuffer());
  const artifact = new Uint8Array(await new Response(new Blob([compressed]).stream().pipeThrough(createEncryptStream(keyring, { segmentSize: compressed.length }))).arrayBuffer());
  const digest = async (b: Uint8Array) => toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(b))));
  await client.put(m.artifact.key, artifact);
  const rebuilt: Manifest = {
    ...m,
    encryption: { ...m.encryption, segmentSize: compressed.length, bytes: artifact.length },
    artifact: { ...m.artifact, bytes: artifact.length, sha256: await digest(artifact), headerSha256: await digest(artifact.subarray(0, readHeader(artifact).headerLength)) },
  };
  await putManifest(rebuilt);
  return rebuilt;
}

function envFor(c: Case, prefix: string): Record<string, string> {
  const base = { ...pgsealEnv(target, keyringEntry), PGSEAL_PREFIX: prefix };
  return c.v2 ? { ...base, PGSEAL_KEYRING: "", PGSEAL_PRIVATE_KEY: recipient.privateEntry } : base;
}

async function putManifest(m: Manifest): Promise<void> {
  await client.put(m.artifact.key.replace(/\.dump\.(zst|gz)\.pgseal$/, ".manifest.json"), serializeManifest(m), { contentType: "application/json" });
}

async function readManifest(m: Manifest): Promise<Manifest> {
  const key = m.artifact.key.replace(/\.dump\.(zst|gz)\.pgseal$/, ".manifest.json");
  return parseManifest(await new Response((await client.get(key)).body).text(), key);
}

beforeAll(async () => {
  pg = await startPostgres();
  sourceUrl = await pg.createDatabase("seeded");
  await pg.psqlFile(SEED_SQL, "seeded");
  target = await freshBucket("integrity");
  client = new S3Client(target, nodeHashing);
  keyringEntry = generateKey("integrity").entry;
  recipient = await generateRecipient("custody");
  scratch = await mkdtemp(join(tmpdir(), "pgseal-integrity-"));
});

afterAll(async () => {
  await pg?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe.each(CORPUS)("$name artifacts", (c) => {
  it("are refused by verify, decrypt and restore when the manifest records another sha256, and restore leaves the target empty", async () => {
    const prefix = `sha-${c.name}`;
    const good = await backupCase(c, prefix);
    if (!c.segmentSize) expect(good.compression.bytes % good.encryption.segmentSize).toBe(0);
    await putManifest({ ...good, artifact: { ...good.artifact, sha256: "0".repeat(64) } });
    const env = envFor(c, prefix);
    const key = good.artifact.key;

    for (const args of [
      ["verify", key],
      ["verify", key, "--without-key"],
    ]) {
      const r = await pgseal(args, env);
      expect(r.code, `${args.join(" ")}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/error ARTIFACT_CORRUPT: .*sha256/);
      expect(r.stdout).not.toMatch(/verified/);
    }
    const out = join(scratch, `${c.name}.dump`);
    const d = await pgseal(["decrypt", key, "--output", out], env);
    expect(d.code, d.stderr).toBe(1);
    expect(d.stderr).toMatch(/error ARTIFACT_CORRUPT/);
    expect(d.stderr).not.toMatch(/verified/);
    expect(existsSync(out) || existsSync(`${out}.partial`)).toBe(false);

    const db = `restore_sha_${c.name.replace(/-/g, "_")}`;
    const targetUrl = await pg.createDatabase(db);
    const r = await pgseal(["restore", key, "--target", targetUrl], env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/error ARTIFACT_CORRUPT/);
    expect(await countUserObjects(await findPgTools(), parsePgUrl(targetUrl))).toBe(0);

    // The same artifact with its true manifest passes every check: the failures above were the sha256.
    await putManifest(good);
    const ok = await pgseal(["verify", key], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/header binding, size, sha256, every encrypted segment/);
  });

  it("are refused as ARTIFACT_MISMATCH when an older valid artifact under the same key stands in for the recorded one", async () => {
    const prefix = `swap-${c.name}`;
    const segment = c.segmentSize ?? 4096;
    const older = await backup(c, `${prefix}-old`, segment);
    const newer = await backup(c, prefix, segment);
    const olderBytes = new Uint8Array(await new Response((await client.get(older.artifact.key)).body).arrayBuffer());
    await client.put(newer.artifact.key, olderBytes);
    // Make the stand-in pass the size and sha256 checks too: only the header binding can tell.
    const forged = { ...newer, artifact: { ...newer.artifact, bytes: older.artifact.bytes, sha256: older.artifact.sha256 } };
    await putManifest(forged);
    const env = envFor(c, prefix);
    for (const args of [
      ["verify", newer.artifact.key],
      ["verify", newer.artifact.key, "--without-key"],
    ]) {
      const r = await pgseal(args, env);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/error ARTIFACT_MISMATCH: .*not the artifact its manifest describes/);
    }
    const targetUrl = await pg.createDatabase(`restore_swap_${c.name.replace(/-/g, "_")}`);
    const r = await pgseal(["restore", newer.artifact.key, "--target", targetUrl], env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/error ARTIFACT_MISMATCH/);
    expect(await countUserObjects(await findPgTools(), parsePgUrl(targetUrl))).toBe(0);
  });
});

describe("drills of a tampered manifest", () => {
  it.each([CORPUS[0], CORPUS[2]])("never seal a $name backup whose manifest records another sha256", async (c) => {
    const prefix = `drill-${c.name}`;
    const good = await backupCase(c, prefix);
    await putManifest({ ...good, artifact: { ...good.artifact, sha256: "f".repeat(64) } });
    const r = await pgseal(["drill", good.artifact.key], envFor(c, prefix));
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/ARTIFACT_CORRUPT/);
    expect((await readManifest(good)).status).not.toBe("sealed");
  });
});

describe("errors of the processes at the ends of a chain", () => {
  it("reports pg_restore's own error, not the broken pipe, when pg_restore stops reading", async () => {
    // ~25 MB of dump: pg_restore fails on its first CREATE while the pipeline is still writing.
    await pg.psql("create table big as select g, repeat(md5(g::text), 8) as t from generate_series(1, 100000) g", "seeded");
    const prefix = "epipe";
    const env = { ...pgsealEnv(target, keyringEntry), PGSEAL_PREFIX: prefix };
    const b = await pgseal(["backup", "--name", "epipe"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    await pg.psql("drop table big", "seeded");
    expect(b.code, b.stderr).toBe(0);
    // A role that may connect but not create anything in public (the PostgreSQL 15+ default).
    await pg.psql("create role restricted login password 'restricted-pw'; create database locked_target");
    await pg.psql("revoke create on schema public from public", "locked_target");
    const url = new URL(pg.urlFor("locked_target"));
    url.username = "restricted";
    url.password = "restricted-pw";
    const r = await pgseal(["restore", b.stdout.trim(), "--target", url.toString()], env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/error PG_RESTORE_FAILED: .*permission denied/);
    expect(r.stderr).not.toMatch(/EPIPE|unexpected error/);
    expect(r.stderr).not.toContain("restricted-pw");
  });

  it("ends quietly with status 141 when the reader of decrypt --output - closes early", async () => {
    const prefix = "head";
    const env = { ...pgsealEnv(target, keyringEntry), PGSEAL_PREFIX: prefix };
    // Larger than every pipe buffer on the way, so the writer is still writing when the reader leaves.
    await pg.psql("create table big_head as select g, repeat(md5(g::text), 8) as t from generate_series(1, 50000) g", "seeded");
    const b = await pgseal(["backup", "--name", "head"], { ...env, PGSEAL_DATABASE_URL: sourceUrl });
    await pg.psql("drop table big_head", "seeded");
    expect(b.code, b.stderr).toBe(0);
    const { spawn } = await import("node:child_process");
    const bin = new URL("../bin/pgseal.mjs", import.meta.url).pathname;
    const child = spawn(process.execPath, [bin, "decrypt", b.stdout.trim(), "--output", "-"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    // Like `| head -c 5`: read the first bytes, then close the pipe.
    const first = await new Promise<Buffer>((resolve) => child.stdout.once("data", resolve));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(first.subarray(0, 5).toString()).toBe("PGDMP");
    expect(stderr).toBe("");
    expect(code).toBe(141);
  });
});
