// Wires the read side: bucket → size+sha256 check → decrypt → decompress → pg_restore / file / discard.
import { PgsealError } from "../../src/shared/errors.ts";
import { createDecryptStream } from "../../src/shared/format.ts";
import type { Keyring } from "../../src/shared/keyring.ts";
import type { DecryptKeys } from "../../src/shared/format.ts";
import type { Manifest } from "../../src/shared/manifest.ts";
import { parsePgUrl } from "../../src/shared/pg-url.ts";
import type { S3Client } from "../../src/shared/s3.ts";
import { tap } from "../../src/shared/tap.ts";
import { verifyStage } from "../../src/shared/verify-stage.ts";
import { nodeHashing } from "./node-hash.ts";
import { findRestoreTools } from "./pg-tools.ts";
import { countUserObjects } from "./preflight.ts";
import { decompressStage } from "./stages/compress.ts";
import { pgRestoreSink, type RestoreOptions } from "./stages/pg-restore.ts";

const PGDMP_MAGIC = [0x50, 0x47, 0x44, 0x4d, 0x50]; // "PGDMP": custom-format archive header

export interface ReadProgress {
  bytesRead: number;
  bytesTotal: number;
  bytesPlain: number;
}

export function assertKeyAvailable(manifest: Manifest, keysOrKeyring: Keyring | DecryptKeys): void {
  const keys: DecryptKeys = "active" in keysOrKeyring ? { keyring: keysOrKeyring } : keysOrKeyring;
  if (manifest.encryption.format === "pgseal-v2") {
    if (!keys.privateKeys?.some((k) => k.id === manifest.encryption.keyId)) {
      throw new PgsealError(
        "KEY_UNKNOWN_ID",
        `the backup is sealed to recipient '${manifest.encryption.keyId}' (public-key mode): only its private key opens it; pass --private-key-file or set PGSEAL_PRIVATE_KEY_FILE`,
      );
    }
    return;
  }
  const keyring = keys.keyring;
  if (!keyring) throw new PgsealError("KEY_UNKNOWN_ID", `the backup was encrypted with the keyring key '${manifest.encryption.keyId}': set PGSEAL_KEYRING or pass --keyring-file`);
  if (!keyring.get(manifest.encryption.keyId)) {
    throw new PgsealError(
      "KEY_UNKNOWN_ID",
      `the backup was encrypted with key id '${manifest.encryption.keyId}' but the keyring has: ${keyring.ids.join(", ")}`,
    );
  }
}

/**
 * The decrypted, decompressed custom-format dump as a stream. The artifact's size and sha256 are
 * checked before its last bytes are released, so consumers see an error instead of a clean end.
 */
export async function openDump(
  client: S3Client,
  manifest: Manifest,
  keyring: Keyring | DecryptKeys,
  onProgress?: (p: ReadProgress) => void,
): Promise<ReadableStream<Uint8Array>> {
  assertKeyAvailable(manifest, keyring);
  const p: ReadProgress = { bytesRead: 0, bytesTotal: manifest.artifact.bytes, bytesPlain: 0 };
  const { body } = await client.get(manifest.artifact.key);
  return body
    .pipeThrough(tap((c) => ((p.bytesRead += c.length), onProgress?.(p))))
    .pipeThrough(verifyStage(nodeHashing, manifest.artifact, `artifact ${manifest.artifact.key}`))
    .pipeThrough(createDecryptStream(keyring))
    .pipeThrough(decompressStage(manifest.compression.algorithm))
    .pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          for (let i = 0; i < chunk.length && p.bytesPlain + i < PGDMP_MAGIC.length; i++) {
            if (chunk[i] !== PGDMP_MAGIC[p.bytesPlain + i]) {
              throw new PgsealError("ARTIFACT_CORRUPT", `artifact ${manifest.artifact.key} decrypted, but is not a pg_dump custom-format archive`);
            }
          }
          p.bytesPlain += chunk.length;
          controller.enqueue(chunk);
        },
        flush() {
          if (p.bytesPlain !== manifest.dump.bytes) {
            throw new PgsealError("ARTIFACT_CORRUPT", `artifact ${manifest.artifact.key} decompressed to ${p.bytesPlain} bytes, its manifest records ${manifest.dump.bytes}`);
          }
        },
      }),
    );
}

export async function runRestore(args: {
  client: S3Client;
  manifest: Manifest;
  keyring: Keyring | DecryptKeys;
  targetUrl: string;
  options?: RestoreOptions;
  onProgress?: (p: ReadProgress) => void;
  onNotice?: (message: string) => void;
}): Promise<{ warnings: string[]; seconds: number }> {
  const started = performance.now();
  const target = parsePgUrl(args.targetUrl, "target database URL");
  for (const n of target.notices) args.onNotice?.(n);
  assertKeyAvailable(args.manifest, args.keyring);
  // pg_restore must read the archive's format; the target server may be older (stages/pg-restore.ts).
  const tools = await findRestoreTools(args.manifest.dump.pgDumpVersion);
  if (!args.options?.clean) {
    const objects = await countUserObjects(tools, target);
    if (objects > 0) {
      throw new PgsealError(
        "RESTORE_TARGET_NOT_EMPTY",
        `target ${target.redacted} already holds ${objects} tables, views, sequences or large objects: restore into an empty database, or pass --clean to drop and replace matching objects`,
      );
    }
  }
  const dump = await openDump(args.client, args.manifest, args.keyring, args.onProgress);
  const sink = pgRestoreSink(tools, target, args.options);
  try {
    await dump.pipeTo(sink.writable);
  } catch (e) {
    await sink.done.catch(() => {});
    throw e;
  }
  const { warnings } = await sink.done;
  return { warnings, seconds: (performance.now() - started) / 1000 };
}
