// The Worker with real containers: `wrangler dev -c wrangler.containers.jsonc` on this machine, and the TCP forwarders that let containers reach loopback servers.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { freePorts, logTail } from "../../test/harness/ports.ts";
import { ROOT, stopOnExit } from "./docker.ts";
import { tieSockets } from "../../test/harness/socket-pair.ts";

export const CONTAINERS_CONFIG = "wrangler.containers.jsonc";
const READY_TIMEOUT_MS = 300_000;

export interface Forwarder {
  /** host:port on the bridge gateway. */
  host: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The test servers listen on 127.0.0.1, which a container cannot reach: this listens on the bridge
 * gateway (a host address containers can reach) and passes each connection on to loopback.
 */
export async function forwardFromBridge(gateway: string, loopbackPort: number): Promise<Forwarder> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(loopbackPort, "127.0.0.1");
    tieSockets(client, upstream, sockets);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, gateway, () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: gateway,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Rewrites a loopback URL to go through a forwarder on the bridge gateway. */
export function viaBridge(url: string, f: Forwarder): string {
  const u = new URL(url);
  u.hostname = f.host;
  u.port = String(f.port);
  return u.href.replace(/\/$/, "");
}

function dotenvLine(name: string, value: string): string {
  // Single quotes: dotenv takes the value literally (JSON keeps its double quotes).
  if (/['\n]/.test(value)) throw new Error(`${name} cannot be written to an env file: it contains a single quote or a newline`);
  return `${name}='${value}'`;
}

export interface ContainerWorker {
  url: string;
  /** wrangler's output (containers' stdout included). */
  log: string;
  /** Stops wrangler; workerd removes its containers as it exits. */
  close(): Promise<void>;
}

export interface ContainerWorkerOptions {
  /** A pgseal-* temp dir for the env file and wrangler's log. */
  dir: string;
  /** Durable Object storage: the same directory again means the same Durable Objects after a restart. */
  persistTo: string;
  /** PGSEAL_CONFIG and the secrets, as localWorkerSettings() gives them. */
  vars: Record<string, string>;
  /** wranglerDockerEnv(). */
  dockerEnv: Record<string, string>;
  port?: number;
}

export async function startContainerWorker(opts: ContainerWorkerOptions): Promise<ContainerWorker> {
  const envFile = join(opts.dir, "worker.env");
  writeFileSync(
    envFile,
    Object.entries(opts.vars)
      .map(([k, v]) => dotenvLine(k, v))
      .join("\n") + "\n",
    { mode: 0o600 },
  );
  const [port, inspector] = opts.port ? [opts.port, (await freePorts(1))[0]] : await freePorts(2);
  const log = join(opts.dir, `wrangler-${port}.log`);
  const fd = openSync(log, "a");
  const args = [
    join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "-c",
    CONTAINERS_CONFIG,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspector),
    "--persist-to",
    opts.persistTo,
    "--env-file",
    envFile,
    "--show-interactive-dev-session=false",
  ];
  // Its own process group: wrangler and workerd go together, by this group's id.
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", fd, fd],
    env: { ...process.env, ...opts.dockerEnv, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const orphaned = stopOnExit(child);
  const close = async () => {
    process.off("exit", orphaned);
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(-child.pid!, "SIGTERM");
    const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
    if (!done) {
      process.kill(-child.pid!, "SIGKILL");
      await exited;
    }
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return { url, log, close };
    } catch {
      // Not listening yet (wrangler builds the image first).
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await close();
      throw new Error(`wrangler dev with containers did not come up:\n${logTail(log, 30)}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
