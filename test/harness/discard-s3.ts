// An S3 endpoint that accepts uploads and drops the bytes: measures a pipeline without a storage server.
// Speaks just enough S3 for multipart and PUT (pgseal and awscli); checks no signatures.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface DiscardStats {
  bytes: number;
  parts: number;
  uploads: number;
  completed: number;
  aborted: number;
  puts: number;
}

export interface DiscardS3 {
  endpoint: string;
  stats(): DiscardStats;
  stop(): Promise<void>;
}

export async function startDiscardS3(): Promise<DiscardS3> {
  const stats: DiscardStats = { bytes: 0, parts: 0, uploads: 0, completed: 0, aborted: 0, puts: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const md5 = createHash("md5");
    req.on("data", (d: Buffer) => {
      md5.update(d);
      if (req.method === "PUT") stats.bytes += d.length;
    });
    req.on("end", () => {
      const q = url.searchParams;
      const xml = (body: string) => res.writeHead(200, { "content-type": "application/xml" }).end(`<?xml version="1.0" encoding="UTF-8"?>${body}`);
      if (req.method === "POST" && q.has("uploads")) {
        stats.uploads++;
        return xml(`<InitiateMultipartUploadResult><UploadId>${randomBytes(8).toString("hex")}</UploadId></InitiateMultipartUploadResult>`);
      }
      if (req.method === "PUT" && q.has("partNumber")) {
        stats.parts++;
        return res.writeHead(200, { etag: `"${md5.digest("hex")}"` }).end();
      }
      if (req.method === "POST" && q.has("uploadId")) {
        stats.completed++;
        return xml(`<CompleteMultipartUploadResult><ETag>"discarded"</ETag></CompleteMultipartUploadResult>`);
      }
      if (req.method === "DELETE" && q.has("uploadId")) {
        stats.aborted++;
        return res.writeHead(204).end();
      }
      if (req.method === "PUT") {
        stats.puts++;
        return res.writeHead(200, { etag: `"${md5.digest("hex")}"` }).end();
      }
      if (req.method === "HEAD") return res.writeHead(404).end();
      if (req.method === "GET") return xml(`<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>`);
      res.writeHead(400).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats: () => ({ ...stats }),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
