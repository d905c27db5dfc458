// Proves no Postgres or Swift process (nor temp dir) outlives the process that started it, however it ends.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";

const CHILD = new URL("./cleanup-child.ts", import.meta.url).pathname;
// Servers whose owner died before reaping them are reaped by init, which may poll lazily (~2 s here).
const GONE_TIMEOUT_MS = 10_000;

interface Started {
  pids: number[];
  dirs: string[];
}

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Gone means what the kernel says: signal 0 fails with ESRCH (a zombie still counts as present). */
function present(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw e;
  }
}

async function stillRunningAfter(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(present) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return pids.filter(present);
}

async function runChild(mode: string, signal?: NodeJS.Signals): Promise<{ started: Started; ended: Ended }> {
  const child = spawn(process.execPath, [CHILD, mode], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const started = new Promise<Started>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      const nl = stdout.indexOf("\n");
      if (nl !== -1) resolve(JSON.parse(stdout.slice(0, nl)) as Started);
    });
    child.on("close", () => reject(new Error(`child ended before reporting its servers: ${stderr}`)));
  });
  const ended = new Promise<Ended>((resolve) => child.on("close", (code, sig) => resolve({ code, signal: sig, stderr })));
  const report = await started;
  if (signal) child.kill(signal);
  return { started: report, ended: await ended };
}

describe("no server outlives its owner", () => {
  it.each([
    ["the owner's event loop drains without calling stop()", "drain", undefined, { code: 0, signal: null }],
    ["the owner calls process.exit(0) without calling stop()", "exit", undefined, { code: 0, signal: null }],
    ["the owner throws an uncaught error", "throw", undefined, { code: 1, signal: null }],
    ["the owner is interrupted with SIGINT", "signal", "SIGINT", { code: null, signal: "SIGINT" }],
    ["another SIGINT listener calls process.exit() while the stop is under way", "exit-on-signal", "SIGINT", { code: 130, signal: null }],
  ] as const)("kills Postgres and Swift and removes their temp dirs when %s", async (_name, mode, signal, exit) => {
    const { started, ended } = await runChild(mode, signal);
    expect({ code: ended.code, signal: ended.signal }, ended.stderr).toEqual(exit);
    // postmaster + its background workers + 4 swift servers
    expect(started.pids.length).toBeGreaterThanOrEqual(8);
    expect(await stillRunningAfter(started.pids, GONE_TIMEOUT_MS)).toEqual([]);
    expect(started.dirs.filter((d) => existsSync(d))).toEqual([]);
    if (mode === "throw") expect(ended.stderr).toContain("deliberate uncaught error");
  });
});
