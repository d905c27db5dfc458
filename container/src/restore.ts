// Wires the read side: bucket → size+sha256 check → decrypt → decompress → pg_restore / file / discard.
import { PgsealError } from "../../src/shared/errors.ts";
import { createDecryptStream } from "../../src/shared/format/format.ts";
import type { Keyring } from "../../src/shared/format/keyring.ts";
import type { DecryptKeys } from "../../src/shared/format/format.ts";
import type { Manifest } from "../../src/shared/catalog/manifest.ts";
import { parsePgUrl } from "../../src/shared/pg-url.ts";
import type { S3Client } from "../../src/shared/s3/s3.ts";
import { runPipeline, stage, type PipelineSource, type PipelineStage } from "../../src/shared/pipeline/pipeline.ts";
import { tap } from "../../src/shared/pipeline/tap.ts";
import { verifyStage } from "../../src/shared/pipeline/verify-stage.ts";
import { nodeHashing } from "./node-hash.ts";
import { findRestoreTools } from "./pg-tools.ts";
import { countUserObjects } from "./preflight.ts";
import { decompressStage } from "./stages/compress.ts";
import { pgRestoreSink, type RestoreOptions } from "./stages/pg-restore.ts";

const PGDMP_MAGIC = [0x50, 0x47, 0x44, 0x4d, 0x50]; // "PGDMP": custom-format archive header

/** A source and its stages, to be finished with a sink by runPipeline. */
export interface Chain {
  source: PipelineSource;
  stages: PipelineStage[];
}

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
    throw new PgsealError("KEY_UNKNOWN_ID", `the backup was encrypted with key id '${manifest.encryption.keyId}' but the keyring has: ${keyring.ids.join(", ")}`);
  }
}

/** The artifact read from the bucket and bound to its manifest (header, size, sha256): no key needed. */
export async function openArtifact(client: Pick<S3Client, "get">, manifest: Manifest, onProgress?: (p: ReadProgress) => void, what = `artifact ${manifest.artifact.key}`): Promise<Chain> {
  const p: ReadProgress = { bytesRead: 0, bytesTotal: manifest.artifact.bytes, bytesPlain: 0 };
  const { body } = await client.get(manifest.artifact.key);
  return {
    source: { name: "bucket", readable: body },
    stages: [
      stage(
        "progress",
        tap((c) => ((p.bytesRead += c.length), onProgress?.(p))),
      ),
      stage("verify", verifyStage(nodeHashing, manifest.artifact, what)),
    ],
  };
}

/** Reads a stored artifact to its end and checks it against the manifest without the key (size, sha256, header binding). */
export async function checkStoredArtifact(client: Pick<S3Client, "get">, manifest: Manifest, what?: string): Promise<void> {
  const chain = await openArtifact(client, manifest, undefined, what);
  await runPipeline({ ...chain, sink: { name: "discard", writable: new WritableStream() } });
}

/**
 * The decrypted, decompressed custom-format dump as a chain for runPipeline. The verify stage
 * withholds the header until it matches the manifest and the last bytes until size and sha256
 * do, so a consumer can never reach the end of the dump (or commit a restore) before they passed.
 */
export async function openDump(client: Pick<S3Client, "get">, manifest: Manifest, keyring: Keyring | DecryptKeys, onProgress?: (p: ReadProgress) => void): Promise<Chain> {
  assertKeyAvailable(manifest, keyring);
  let plain = 0;
  const chain = await openArtifact(client, manifest, onProgress && ((p) => onProgress({ ...p, bytesPlain: plain })));
  chain.stages.push(
    stage("decrypt", createDecryptStream(keyring)),
    stage("decompress", decompressStage(manifest.compression.algorithm)),
    stage(
      "dump-check",
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          for (let i = 0; i < chunk.length && plain + i < PGDMP_MAGIC.length; i++) {
            if (chunk[i] !== PGDMP_MAGIC[plain + i]) {
              throw new PgsealError("ARTIFACT_CORRUPT", `artifact ${manifest.artifact.key} decrypted, but is not a pg_dump custom-format archive`);
            }
          }
          plain += chunk.length;
          controller.enqueue(chunk);
        },
        flush() {
          if (plain !== manifest.dump.bytes) {
            throw new PgsealError("ARTIFACT_CORRUPT", `artifact ${manifest.artifact.key} decompressed to ${plain} bytes, its manifest records ${manifest.dump.bytes}`);
          }
        },
      }),
    ),
  );
  return chain;
}

/**
 * Runs `check` (a target's checks or start) while `opening` opens the dump: neither needs the other,
 * and the body waits unread until a consumer pulls it. Both have settled when this returns or
 * throws. `check`'s failure wins, as when they ran in turn, and the opened body is then cancelled.
 */
export async function whileDumpOpens<T>(check: Promise<T>, opening: Promise<Chain>): Promise<{ checked: T; chain: Chain }> {
  const [checked, opened] = await Promise.allSettled([check, opening]);
  if (checked.status === "rejected") {
    // Unread: cancelling only releases the connection, and a failed cancel changes nothing the user must know; the check's error is the story.
    if (opened.status === "fulfilled") await opened.value.source.readable.cancel().catch(() => undefined);
    throw checked.reason;
  }
  if (opened.status === "rejected") throw opened.reason;
  return { checked: checked.value, chain: opened.value };
}

export async function runRestore(args: {
  client: Pick<S3Client, "get">;
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
  const checking = (async () => {
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
    return tools;
  })();
  // The target's checks are process starts, the artifact's GET a round trip to the bucket: they overlap.
  const { checked: tools, chain } = await whileDumpOpens(checking, openDump(args.client, args.manifest, args.keyring, args.onProgress));
  const sink = pgRestoreSink(tools, target, args.options);
  await runPipeline({ ...chain, sink: { name: "pg_restore", writable: sink.writable, done: sink.done, stop: sink.stop } });
  const { warnings } = await sink.done;
  return { warnings, seconds: (performance.now() - started) / 1000 };
}
