// A loopback TCP proxy that can take a real server "down" and back, for outage tests.
import net from "node:net";
import { freePorts } from "./ports.ts";
import { tieSockets } from "./socket-pair.ts";

const LISTEN_ATTEMPTS = 5;

export interface TcpProxy {
  /** http://127.0.0.1:<port> in front of the target. */
  url: string;
  port: number;
  /** Bytes forwarded from clients to the target so far. */
  bytesUp(): number;
  /** Resolves once at least `n` bytes went upstream. */
  waitForBytesUp(n: number): Promise<void>;
  /** Stops listening and resets every open connection, like a server that died. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let up = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    client.on("data", (d) => {
      up += d.length;
      for (const w of waiters.filter((w) => up >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
    client.pipe(upstream).pipe(client);
    tieSockets(client, upstream, sockets);
  });
  const listen = (port: number) => new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", () => resolve()));
  // up() listens on the same port again: a port from outside the kernel's ephemeral range (freePorts)
  // cannot be handed to another server or client while the proxy is down.
  for (let attempt = 1; ; attempt++) {
    try {
      await listen((await freePorts(1))[0]);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= LISTEN_ATTEMPTS) throw e;
    }
  }
  const port = (server.address() as net.AddressInfo).port;
  const down = async () => {
    for (const s of sockets) s.resetAndDestroy();
    sockets.clear();
    await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    bytesUp: () => up,
    waitForBytesUp: (n) => (up >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    down,
    up: () => listen(port),
    stop: down,
  };
}
