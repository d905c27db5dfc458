// Drill a stored backup and record the verdict in its manifest: `sealed` only when the drill passed.
import { drillSummary } from "../../src/shared/drill-record.ts";
import { asPgsealError, PgsealError } from "../../src/shared/errors.ts";
import { verifyStage } from "../../src/shared/verify-stage.ts";
import { nodeHashing } from "./node-hash.ts";
import type { Keyring } from "../../src/shared/keyring.ts";
import { serializeManifest, type DrillSummary, type Manifest, type ManifestStatus } from "../../src/shared/manifest.ts";
import type { S3Client } from "../../src/shared/s3.ts";
import { openJson, sealJson } from "../../src/shared/sealed-json.ts";
import { runDrill, type DrillProgress, type DrillRecord } from "./drill.ts";
import type { DumpInventory } from "./stages/dump-inventory.ts";

export interface SealArgs {
  client: S3Client;
  manifest: Manifest;
  manifestKey: string;
  keyring: Keyring;
  /** From the backup that just ran; otherwise read from the manifest's sealed inventory. */
  inventory?: DumpInventory | null;
  scratchUrl?: string;
  signal?: AbortSignal;
  onProgress?: (p: DrillProgress) => void;
  onNotice?: (message: string) => void;
  freeBytes?: () => number;
  /** The backup's other stored copies: each is checked by size and sha256 and gets the same verdict in its manifest. */
  copies?: { name: string; client: S3Client }[];
}

export interface CopyCheck {
  name: string;
  ok: boolean;
  error?: { code: string; message: string };
}

/** Streams a copy back and checks it against the manifest: the drill proved one copy, this proves the others hold the same bytes. */
async function checkCopy(client: S3Client, manifest: Manifest): Promise<void> {
  const { body } = await client.get(manifest.artifact.key);
  await body.pipeThrough(verifyStage(nodeHashing, manifest.artifact, `copy of ${manifest.artifact.key} in ${client.where()}`)).pipeTo(new WritableStream());
}

const STATUS: Record<DrillSummary["verdict"], ManifestStatus> = { pass: "sealed", fail: "drill-failed", skipped: "drill-skipped" };


export async function sealBackup(args: SealArgs): Promise<{ manifest: Manifest; drill: DrillRecord; copies: CopyCheck[] }> {
  let inventory = args.inventory ?? null;
  if (!inventory && args.manifest.sealed?.inventory) {
    inventory = await openJson<DumpInventory>(args.keyring, args.manifest.sealed.inventory, `the inventory in ${args.manifestKey}`);
  }
  let drill: DrillRecord;
  if (!inventory) {
    const at = new Date().toISOString();
    drill = {
      at,
      verdict: "fail",
      code: "DRILL_FAILED",
      reason: "the backup has no table inventory to compare a restore with (made by an older pgseal, or the dump could not be parsed)",
      target: args.scratchUrl ? "scratch-database" : "local-cluster",
      restoreFlags: [],
      restoreSeconds: 0,
      countSeconds: 0,
      totalSeconds: 0,
      tables: 0,
      rows: 0,
      warnings: [],
      comparison: null,
    };
  } else {
    drill = await runDrill({ ...args, expected: inventory });
  }
  if (args.signal?.aborted) throw new PgsealError("CANCELLED", "the drill was cancelled");
  const manifest: Manifest = {
    ...args.manifest,
    status: STATUS[drill.verdict],
    drill: drillSummary(drill)!,
    sealed: { ...args.manifest.sealed, drill: await sealJson(args.keyring, { warnings: drill.warnings, comparison: drill.comparison }) },
  };
  // Overwrites the `uploaded` manifest of the same backup: the artifact itself is never touched.
  await args.client.put(args.manifestKey, serializeManifest(manifest), { contentType: "application/json" });
  const copies: CopyCheck[] = [];
  for (const c of args.copies ?? []) {
    try {
      await checkCopy(c.client, manifest);
      await c.client.put(args.manifestKey, serializeManifest(manifest), { contentType: "application/json" });
      copies.push({ name: c.name, ok: true });
    } catch (e) {
      const err = asPgsealError(e, "S3_INTEGRITY", `copy ${c.name}`);
      // A copy that does not match is not the backup that was drilled: its manifest must not say sealed.
      const failed: Manifest = { ...manifest, status: "drill-failed", drill: { ...manifest.drill!, verdict: "fail", code: err.code, reason: `this copy failed its size/sha256 check: ${err.message}` } };
      await c.client.put(args.manifestKey, serializeManifest(failed), { contentType: "application/json" }).catch(() => {});
      copies.push({ name: c.name, ok: false, error: { code: err.code, message: err.message } });
    }
  }
  return { manifest, drill, copies };
}
