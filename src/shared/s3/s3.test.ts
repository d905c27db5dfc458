// Request shape of the S3 client where no local server can stand in: virtual-host URLs and R2's "auto" region.
import { describe, expect, it } from "vitest";
import { nodeHashing } from "../../../container/src/node-hash.ts";
import { S3Client } from "./s3.ts";

function recordingFetch(seen: Request[]): typeof fetch {
  return async (input) => {
    seen.push(input as Request);
    return new Response(null, { status: 200, headers: { etag: '"e"' } });
  };
}

describe("S3 request shape", () => {
  it("puts the bucket in the host name for virtual-host style and in the path otherwise, encoding keys per segment", async () => {
    const seen: Request[] = [];
    const base = { endpoint: "https://s3.us-west-004.backblazeb2.com", bucket: "my-backups", region: "us-west-004", accessKeyId: "AK", secretAccessKey: "SK" };
    await new S3Client({ ...base, pathStyle: false }, nodeHashing, { fetch: recordingFetch(seen) }).put("a b/c+d.json", "x");
    await new S3Client(base, nodeHashing, { fetch: recordingFetch(seen) }).put("a b/c+d.json", "x");
    expect(seen[0].url).toBe("https://my-backups.s3.us-west-004.backblazeb2.com/a%20b/c%2Bd.json");
    expect(seen[1].url).toBe("https://s3.us-west-004.backblazeb2.com/my-backups/a%20b/c%2Bd.json");
  });

  it("signs with region 'auto' for R2, sends Content-MD5 and no x-amz-checksum header", async () => {
    const seen: Request[] = [];
    const r2 = { endpoint: "https://acc.r2.cloudflarestorage.com", bucket: "b", region: "auto", accessKeyId: "AK", secretAccessKey: "SK" };
    await new S3Client(r2, nodeHashing, { fetch: recordingFetch(seen) }).uploadPart("k", "up1", 3, new Uint8Array([1, 2, 3]));
    const h = seen[0].headers;
    expect(h.get("authorization")).toMatch(/Credential=AK\/\d{8}\/auto\/s3\/aws4_request/);
    expect(h.get("authorization")).toMatch(/SignedHeaders=[^,]*content-md5/);
    expect(h.get("content-md5")).toBe("Uonfc331cyb83SJZevsfrA==");
    expect([...h.keys()].filter((k) => k.startsWith("x-amz-checksum"))).toEqual([]);
    expect(seen[0].url).toBe("https://acc.r2.cloudflarestorage.com/b/k?partNumber=3&uploadId=up1");
  });
});
