// An S3 endpoint that accepts uploads and drops the bytes: measures a pipeline without a storage server.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface DiscardStats {
  /** Body bytes received by PUTs (parts and whole objects), including those of reset requests. */
  bytes: number;
  parts: number;
  uploads: number;
  completed: number;
  aborted: number;
  puts: number;
  /** Size of every part answered 200, in arrival order. */
  partSizes: number[];
  /** The most UploadPart requests this server was handling at once. */
  maxPartsInFlight: number;
  /** Connections reset by the failAfterBytes fault. */
  resets: number;
}

export interface DiscardOptions {
  /** Once this many body bytes have arrived, every request carrying a body gets its connection reset. */
  failAfterBytes?: number;
  /** Delay before answering each UploadPart, to act like a slow store. */
  partDelayMs?: number;
}

export interface DiscardS3 {
  endpoint: string;
  stats(): DiscardStats;
  stop(): Promise<void>;
}

const xml = (res: http.ServerResponse, body: string) => res.writeHead(200, { "content-type": "application/xml" }).end(`<?xml version="1.0" encoding="UTF-8"?>${body}`);

/** Speaks just enough S3 for multipart and PUT (pgseal and awscli); checks Content-MD5, not signatures. */
export async function startDiscardS3(opts: DiscardOptions = {}): Promise<DiscardS3> {
  const stats: DiscardStats = { bytes: 0, parts: 0, uploads: 0, completed: 0, aborted: 0, puts: 0, partSizes: [], maxPartsInFlight: 0, resets: 0 };
  let partsInFlight = 0;
  const tripped = () => opts.failAfterBytes !== undefined && stats.bytes >= opts.failAfterBytes;
  const reset = (req: http.IncomingMessage) => {
    if (req.socket.destroyed) return;
    stats.resets++;
    req.socket.resetAndDestroy();
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const q = url.searchParams;
    const isPart = req.method === "PUT" && q.has("partNumber");
    const hasBody = req.method === "PUT" || (req.method === "POST" && q.has("uploadId"));
    if (hasBody && tripped()) return reset(req);
    if (isPart) stats.maxPartsInFlight = Math.max(stats.maxPartsInFlight, ++partsInFlight);
    res.on("close", () => void (isPart && partsInFlight--));

    // MD5 computed while the body streams through: nothing is kept.
    const md5 = createHash("md5");
    let size = 0;
    req.on("data", (d: Buffer) => {
      md5.update(d);
      size += d.length;
      if (req.method === "PUT") stats.bytes += d.length;
      if (hasBody && tripped()) reset(req);
    });
    req.on("end", async () => {
      const digest = md5.digest();
      const sent = req.headers["content-md5"];
      if (sent !== undefined && sent !== digest.toString("base64")) {
        return res.writeHead(400, { "content-type": "application/xml" }).end("<Error><Code>BadDigest</Code><Message>Content-MD5 mismatch</Message></Error>");
      }
      if (req.method === "POST" && q.has("uploads")) {
        stats.uploads++;
        return xml(res, `<InitiateMultipartUploadResult><UploadId>${randomBytes(8).toString("hex")}</UploadId></InitiateMultipartUploadResult>`);
      }
      if (isPart) {
        if (opts.partDelayMs) await new Promise((r) => setTimeout(r, opts.partDelayMs));
        stats.parts++;
        stats.partSizes.push(size);
        return res.writeHead(200, { etag: `"${digest.toString("hex")}"` }).end();
      }
      if (req.method === "POST" && q.has("uploadId")) {
        stats.completed++;
        return xml(res, `<CompleteMultipartUploadResult><ETag>"discarded"</ETag></CompleteMultipartUploadResult>`);
      }
      if (req.method === "DELETE" && q.has("uploadId")) {
        stats.aborted++;
        return res.writeHead(204).end();
      }
      if (req.method === "PUT") {
        stats.puts++;
        return res.writeHead(200, { etag: `"${digest.toString("hex")}"` }).end();
      }
      if (req.method === "HEAD") return res.writeHead(404).end();
      if (req.method === "GET") return xml(res, `<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>`);
      res.writeHead(400).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats: () => ({ ...stats, partSizes: [...stats.partSizes] }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
