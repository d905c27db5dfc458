// A loopback TCP proxy that forwards one direction's bytes at a fixed rate: uploads (or downloads) that take long enough to interrupt.
import net from "node:net";
import { tieSockets } from "./socket-pair.ts";

export interface SlowProxy {
  /** http://127.0.0.1:<port> in front of the target. */
  url: string;
  stop(): Promise<void>;
}

/**
 * One budget shared by every connection, so concurrent transfers cannot add up to more than
 * `bytesPerSecond`. Only one direction is slowed: client→server (uploads, the default) or, with
 * `direction: "down"`, server→client (downloads, such as a drill reading the artifact back).
 */
export async function startSlowProxy(targetUrl: string, opts: { bytesPerSecond: number; direction?: "up" | "down" }): Promise<SlowProxy> {
  const target = new URL(targetUrl);
  const msPerByte = 1000 / opts.bytesPerSecond;
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let nextFreeAt = 0;
  const throttle = (from: net.Socket, to: net.Socket) => {
    from.on("data", (chunk) => {
      to.write(chunk);
      const now = Date.now();
      nextFreeAt = Math.max(now, nextFreeAt) + chunk.length * msPerByte;
      if (nextFreeAt > now) {
        from.pause();
        const t = setTimeout(() => {
          timers.delete(t);
          from.resume();
        }, nextFreeAt - now);
        timers.add(t);
      }
    });
    from.on("end", () => to.end());
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    if (opts.direction === "down") {
      throttle(upstream, client);
      client.pipe(upstream);
    } else {
      throttle(client, upstream);
      upstream.pipe(client);
    }
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
