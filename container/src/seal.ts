// Drill a stored backup and record the verdict in its manifest: `sealed` only when the drill passed.
import { drillSummary } from "../../src/shared/catalog/drill-record.ts";
import { asPgsealError, PgsealError } from "../../src/shared/errors.ts";
import { checkStoredArtifact } from "./restore.ts";
import type { Keyring } from "../../src/shared/format/keyring.ts";
import type { DecryptKeys } from "../../src/shared/format/format.ts";
import type { RecipientPublicKey } from "../../src/shared/format/recipient.ts";
import { serializeManifest, type Manifest } from "../../src/shared/catalog/manifest.ts";
import type { S3Client } from "../../src/shared/s3/s3.ts";
import { openJson, sealJson } from "../../src/shared/format/sealed-json.ts";
import { STATUS_OF_VERDICT } from "../../src/shared/contract/verdict.ts";
import { drillOutcome } from "./drill-outcome.ts";
import { isDrillNotRun, runDrill, type DrillProgress, type DrillRecord, type DrillSpec } from "./drill.ts";
import type { DumpInventory } from "./stages/dump-inventory.ts";

export interface SealArgs {
  client: S3Client;
  manifest: Manifest;
  manifestKey: string;
  /** Reads the manifest's sealed inventory and the artifact (a drill needs to decrypt). */
  keyring: Keyring | DecryptKeys;
  /** Seals the drill's section: the keyring (v1 backups) or the recipient (v2); default `keyring`. */
  sealWith?: Keyring | RecipientPublicKey;
  /** From the backup that just ran; otherwise read from the manifest's sealed inventory. */
  inventory?: DumpInventory | null;
  scratchUrl?: string;
  signal?: AbortSignal;
  onProgress?: (p: DrillProgress) => void;
  onNotice?: (message: string) => void;
  freeBytes?: () => number;
  amcheck?: boolean;
  /** Tests: alters the restored database before it is compared. */
  afterRestore?: DrillSpec["afterRestore"];
  /** The backup was just made: a drill that could not run records `drill-skipped` with the reason, instead of leaving it `uploaded`. */
  firstDrill?: boolean;
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
  await checkStoredArtifact(client, manifest, `copy of ${manifest.artifact.key} in ${client.where()}`);
}

/** What the drill's section is sealed with: the artifact's own kind of key (its keyring, or its recipient's public half). */
function sealingKeyOf(manifest: Manifest, keys: Keyring | DecryptKeys): Keyring | RecipientPublicKey {
  if ("active" in keys) return keys;
  if (manifest.encryption.format === "pgseal-v2") {
    const priv = keys.privateKeys?.find((k) => k.id === manifest.encryption.keyId);
    if (priv) return { kind: "recipient", id: priv.id, bytes: priv.publicBytes };
  }
  if (keys.keyring) return keys.keyring;
  throw new PgsealError("KEY_UNKNOWN_ID", `no key to seal the drill record of ${manifest.artifact.key} with`);
}

export async function sealBackup(args: SealArgs): Promise<{ manifest: Manifest; drill: DrillRecord; copies: CopyCheck[] }> {
  let inventory = args.inventory ?? null;
  if (!inventory && args.manifest.sealed?.inventory) {
    inventory = await openJson<DumpInventory>(args.keyring, args.manifest.sealed.inventory, `the inventory in ${args.manifestKey}`);
  }
  let drill: DrillRecord;
  const outcome = drillOutcome(args.scratchUrl ? "scratch-database" : "local-cluster");
  if (!inventory) {
    drill = outcome.failed(new PgsealError("DRILL_FAILED", "the backup has no table inventory to compare a restore with (made by an older pgseal, or the dump could not be parsed)"));
  } else {
    try {
      drill = await runDrill({ ...args, expected: inventory });
    } catch (e) {
      // A drill that could not run is no verdict: an existing backup keeps its status; a new one says why it is undrilled.
      if (!args.firstDrill || !isDrillNotRun(e)) throw e;
      drill = outcome.skipped(e.message, e.code);
    }
  }
  if (args.signal?.aborted) throw new PgsealError("CANCELLED", "the drill was cancelled");
  return recordVerdict({ ...args, drill, sealWith: args.sealWith ?? sealingKeyOf(args.manifest, args.keyring) });
}

/**
 * Writes a drill's verdict into the backup's manifest (status, plaintext summary, sealed detail),
 * checks every other copy by size and sha256 and gives each the same verdict, or drill-failed if
 * its bytes differ. Used after a drill from the bucket and after a streamed one (key custody).
 */
export async function recordVerdict(args: {
  client: S3Client;
  manifest: Manifest;
  manifestKey: string;
  drill: DrillRecord;
  sealWith: Keyring | RecipientPublicKey;
  copies?: { name: string; client: S3Client }[];
}): Promise<{ manifest: Manifest; drill: DrillRecord; copies: CopyCheck[] }> {
  const drill = args.drill;
  const manifest: Manifest = {
    ...args.manifest,
    status: STATUS_OF_VERDICT[drill.verdict],
    drill: drillSummary(drill)!,
    sealed: { ...args.manifest.sealed, drill: await sealJson(args.sealWith, { warnings: drill.warnings, comparison: drill.comparison }) },
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
      const failed: Manifest = {
        ...manifest,
        status: "drill-failed",
        drill: { ...manifest.drill!, verdict: "fail", code: err.code, reason: `this copy failed its size/sha256 check: ${err.message}` },
      };
      await c.client.put(args.manifestKey, serializeManifest(failed), { contentType: "application/json" }).catch(() => {});
      copies.push({ name: c.name, ok: false, error: { code: err.code, message: err.message } });
    }
  }
  return { manifest, drill, copies };
}
