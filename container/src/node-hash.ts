// Node's implementation of the injected hashing (node:crypto is much faster than pure JS).
import { createHash } from "node:crypto";
import type { Hashing } from "../../src/shared/hash.ts";

export const nodeHashing: Hashing = {
  sha256() {
    const h = createHash("sha256");
    return {
      update: (chunk) => void h.update(chunk),
      digest: () => new Uint8Array(h.digest()),
    };
  },
  md5: (data) => {
    const h = createHash("md5");
    for (const piece of data instanceof Uint8Array ? [data] : data) h.update(piece);
    return new Uint8Array(h.digest());
  },
};
