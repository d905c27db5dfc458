// Incremental hashing, injected by the platform: WebCrypto has only one-shot digests.
// Node passes node:crypto (container/src/node-hash.ts); the Worker can use crypto.DigestStream.

export interface IncrementalHash {
  update(chunk: Uint8Array): void;
  digest(): Promise<Uint8Array> | Uint8Array;
}

export interface Hashing {
  sha256(): IncrementalHash;
  /** MD5 for S3 Content-MD5 (not security-relevant; the store checks part integrity), of the pieces in order. */
  md5(data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> | Uint8Array;
}
