// Pipeline stage: zstd (default) or gzip compression and decompression via node:zlib.
import { Duplex } from "node:stream";
import zlib from "node:zlib";
import type { Compression } from "../../../src/shared/artifact-keys.ts";

export const DEFAULT_LEVEL: Record<Compression, number> = { zstd: 3, gzip: 6 };
// Larger output chunks than zlib's 16 KiB default mean fewer stream hops downstream.
const CHUNK_BYTES = 256 * 1024;

type Pair = { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };

export function compressStage(algorithm: Compression, level = DEFAULT_LEVEL[algorithm]): Pair {
  const z =
    algorithm === "zstd"
      ? zlib.createZstdCompress({ chunkSize: CHUNK_BYTES, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } })
      : zlib.createGzip({ chunkSize: CHUNK_BYTES, level });
  return Duplex.toWeb(z) as Pair;
}

export function decompressStage(algorithm: Compression): Pair {
  const z = algorithm === "zstd" ? zlib.createZstdDecompress({ chunkSize: CHUNK_BYTES }) : zlib.createGunzip({ chunkSize: CHUNK_BYTES });
  return Duplex.toWeb(z) as Pair;
}
