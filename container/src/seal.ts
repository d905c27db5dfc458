// Drill a stored backup and record the verdict in its manifest: `sealed` only when the drill passed.
import { drillSummary } from "../../src/shared/drill-record.ts";
import { PgsealError } from "../../src/shared/errors.ts";
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
}

const STATUS: Record<DrillSummary["verdict"], ManifestStatus> = { pass: "sealed", fail: "drill-failed", skipped: "drill-skipped" };


export async function sealBackup(args: SealArgs): Promise<{ manifest: Manifest; drill: DrillRecord }> {
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
  return { manifest, drill };
}
