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
  md5: (data) => new Uint8Array(createHash("md5").update(data).digest()),
};
