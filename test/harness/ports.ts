// Free loopback ports and small process helpers shared by the Postgres and Swift harnesses.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

export { runCommand, systemUser, type SystemUser } from "../../container/src/run-command.ts";

/** Asks the kernel for n distinct free ports on 127.0.0.1 by binding port 0 n times at once. */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(0, "127.0.0.1", resolve);
      });
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
