// A loopback TCP proxy that forwards client→server bytes at a fixed rate: uploads that take long enough to interrupt.
import net from "node:net";
import { tieSockets } from "./socket-pair.ts";

export interface SlowProxy {
  /** http://127.0.0.1:<port> in front of the target. */
  url: string;
  stop(): Promise<void>;
}

/**
 * One budget shared by every connection, so concurrent part uploads cannot add up to more than
 * `bytesPerSecond`. Server→client bytes pass unthrottled: only the upload is slowed.
 */
export async function startSlowProxy(targetUrl: string, opts: { bytesPerSecond: number }): Promise<SlowProxy> {
  const target = new URL(targetUrl);
  const msPerByte = 1000 / opts.bytesPerSecond;
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let nextFreeAt = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    client.on("data", (chunk) => {
      upstream.write(chunk);
      const now = Date.now();
      nextFreeAt = Math.max(now, nextFreeAt) + chunk.length * msPerByte;
      if (nextFreeAt > now) {
        client.pause();
        const t = setTimeout(() => {
          timers.delete(t);
          client.resume();
        }, nextFreeAt - now);
        timers.add(t);
      }
    });
    client.on("end", () => upstream.end());
    upstream.pipe(client);
    tieSockets(client, upstream, sockets);
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
