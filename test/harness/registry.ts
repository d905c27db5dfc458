// Process-wide registry of servers the harness started: nothing it starts may outlive its owner.
import { readFileSync, rmSync } from "node:fs";

/** One started server: its process group, how to stop it nicely, and the temp dir to remove after. */
export interface Tracked {
  label: string;
  /** PIDs of group leaders we spawned detached (each its own process group). */
  pids: number[];
  /** Signal for a clean but quick stop (postgres: SIGQUIT is immediate shutdown; swift: SIGTERM). */
  urgentSignal: NodeJS.Signals;
  dir?: string;
  /** Graceful asynchronous stop used on signals and when the event loop drains. */
  stop: () => Promise<void>;
}

const URGENT_GRACE_MS = 3_000;
const POLL_MS = 20;
const SIGNAL_STOP_TIMEOUT_MS = 10_000;

const live = new Set<Tracked>();
let installed = false;

export function track(entry: Tracked): () => void {
  install();
  live.add(entry);
  return () => {
    live.delete(entry);
  };
}

/** True once the process is gone or only a zombie waiting to be reaped (it runs no code any more). */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return true;
    throw e;
  }
  try {
    // "pid (comm) S ..." — comm may contain spaces and parentheses, so split after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return true;
  }
}

export function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return true;
    throw e;
  }
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until every PID is gone; false on timeout. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!pids.every(isGone)) {
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The 'exit' path: no event loop any more, so signal, busy-wait briefly, then SIGKILL and delete. */
function killAllSync(): void {
  const entries = [...live];
  live.clear();
  for (const e of entries) for (const pid of e.pids) signalGroup(pid, e.urgentSignal);
  const deadline = Date.now() + URGENT_GRACE_MS;
  while (Date.now() < deadline && !entries.every((e) => e.pids.every(isGone))) sleepSync(POLL_MS);
  // Children of the servers (backends, swift workers) share the leader's group: one kill reaches them all.
  for (const e of entries) for (const pid of e.pids) signalGroup(pid, "SIGKILL");
  for (const e of entries) if (e.dir) rmSync(e.dir, { recursive: true, force: true, maxRetries: 3 });
}

async function stopAll(): Promise<void> {
  const entries = [...live];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((r) => (timer = setTimeout(r, SIGNAL_STOP_TIMEOUT_MS)));
  await Promise.race([Promise.allSettled(entries.map((e) => e.stop())), timeout]);
  clearTimeout(timer);
  killAllSync();
}

function onSignal(signal: NodeJS.Signals): void {
  const handler = (): void => {
    void stopAll().finally(() => {
      process.removeListener(signal, handler);
      // Re-raise so the owner dies of the signal as it would have without us, unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  process.on(signal, handler);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAllSync);
  // A script that forgot stop(): the loop drained (server handles are unref'd), so stop properly.
  process.on("beforeExit", () => {
    if (live.size > 0) void stopAll();
  });
  onSignal("SIGINT");
  onSignal("SIGTERM");
  // Uncaught errors end the process through 'exit' (killAllSync). No uncaughtException hook on
  // purpose: vitest survives errors thrown by a test, and the servers must survive them too.
}
