// Free loopback ports and small process helpers shared by the Postgres and Swift harnesses.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

export { runCommand, systemUser, type SystemUser } from "../../container/src/run-command.ts";

/** Below this, ports may belong to well-known services; the pick stays above it. */
const PICK_FLOOR = 20_000;
const PICK_TRIES = 200;

/**
 * Where the kernel hands out ports for listen(0) and outgoing connections (Linux's default when
 * unreadable). A port picked now and bound later can be taken in between by anything that asks for
 * port 0; a port outside this range only by someone asking for that very port.
 */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    // not Linux, or /proc is hidden: assume the default range
  }
  return [32_768, 60_999];
}

function listenOn(port: number): Promise<Server | null> {
  const s = createServer();
  return new Promise((resolve, reject) => {
    s.once("error", (e: NodeJS.ErrnoException) => (e.code === "EADDRINUSE" || e.code === "EACCES" ? resolve(null) : reject(e)));
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

/**
 * n distinct ports free on 127.0.0.1 now, for a server that binds them later: each is bound here
 * once (all at the same time, so they are distinct) and released. They are picked outside the
 * kernel's ephemeral range when there is room below it, so the servers and clients of parallel
 * test runs cannot be given them meanwhile; otherwise the kernel picks (port 0).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  const [lo] = ephemeralRange();
  try {
    for (let tries = 0; servers.length < n && lo - PICK_FLOOR > 1_000 && tries < PICK_TRIES; tries++) {
      const s = await listenOn(PICK_FLOOR + Math.floor(Math.random() * (lo - PICK_FLOOR)));
      if (s) servers.push(s);
    }
    while (servers.length < n) {
      const s = await listenOn(0);
      if (!s) throw new Error("could not bind port 0 on 127.0.0.1");
      servers.push(s);
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** The last lines of a log file, for error messages about a server that would not start. */
export function logTail(path: string, lines = 20): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
