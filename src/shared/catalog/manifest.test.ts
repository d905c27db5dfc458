// Tests for manifest validation: every bad field is named, and a valid manifest round-trips.
import { describe, expect, it } from "vitest";
import { parseManifest, serializeManifest, type Manifest } from "./manifest.ts";

const SAMPLE_MANIFEST: Manifest = {
  format: "pgseal-manifest",
  version: 1,
  db: "app",
  createdAt: "2026-11-22T10:00:00.000Z",
  status: "uploaded",
  tool: { name: "pgseal", version: "0.1.0" },
  source: { host: "127.0.0.1", database: "app", serverVersion: "15.18", serverMajor: 15, sizeBytes: 1000 },
  dump: { format: "custom", pgDumpVersion: "15.18", bytes: 900 },
  compression: { algorithm: "zstd", level: 3, bytes: 300 },
  encryption: { format: "pgseal-v1", keyId: "k1", segmentSize: 1048576, bytes: 400 },
  artifact: { key: "app/2026/11/app_20261122T100000Z.dump.zst.pgseal", bytes: 400, sha256: "a".repeat(64), partSize: 8388608, parts: 1 },
  timings: { dumpSeconds: 1.5, totalSeconds: 2 },
};

describe("manifest", () => {
  it("round-trips a valid manifest through JSON", () => {
    expect(parseManifest(serializeManifest(SAMPLE_MANIFEST), "k")).toEqual(SAMPLE_MANIFEST);
  });

  it("names every missing or invalid field in one error", () => {
    const bad = { ...SAMPLE_MANIFEST, status: "great", artifact: { ...SAMPLE_MANIFEST.artifact, sha256: "xyz" } } as unknown;
    delete (bad as Record<string, unknown>).db;
    expect(() => parseManifest(JSON.stringify(bad), "m.json")).toThrow(/m\.json has missing or invalid fields: db, status, artifact\.sha256$/);
  });

  it("rejects text that is not JSON with MANIFEST_INVALID", () => {
    try {
      parseManifest("{", "m.json");
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: "MANIFEST_INVALID" });
    }
  });

  it("refuses to serialize a manifest that would not parse back", () => {
    expect(() => serializeManifest({ ...SAMPLE_MANIFEST, artifact: { ...SAMPLE_MANIFEST.artifact, bytes: -1 } })).toThrow(/artifact\.bytes/);
  });
});
