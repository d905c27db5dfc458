// The streamer as the image runs it (`node container/src/server.ts`), as a child process with its output captured.
import { spawn } from "node:child_process";
import { freePorts } from "./ports.ts";
import { signalGroup, sleep, track, waitGone } from "./registry.ts";

const SERVER = new URL("../../container/src/server.ts", import.meta.url).pathname;
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 30_000;
const POLL_MS = 20;
const START_ATTEMPTS = 3;

export interface StreamerProcess {
  url: string;
  pid: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** The JSON log lines of stdout so far. */
  events(): Record<string, unknown>[];
  /** Resolves with the first log line matching `pred`, waiting for it if needed. */
  waitForEvent(pred: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code once it has exited and its output is all read (null if killed by a signal). */
  exited: Promise<number | null>;
  /** SIGTERM, as the container runtime stops it; SIGKILL if it does not exit in time. */
  stop(): Promise<number | null>;
}

/**
 * Its port comes from freePorts (outside the kernel's ephemeral range): tests stop it and then expect
 * nothing to answer there, which a port the kernel could hand to another server meanwhile cannot promise.
 */
export async function spawnStreamer(): Promise<StreamerProcess> {
  for (let attempt = 1; ; attempt++) {
    const [port] = await freePorts(1);
    try {
      return await spawnOn(port);
    } catch (e) {
      // Someone took the port between the pick and the bind: pick another.
      if (!/EADDRINUSE/.test(String(e)) || attempt >= START_ATTEMPTS) throw e;
    }
  }
}

async function spawnOn(port: number): Promise<StreamerProcess> {
  const child = spawn(process.execPath, [SERVER], {
    // Bare on purpose (the image passes nothing else), except the tools the test run selected.
    env: { PATH: process.env.PATH ?? "", PORT: String(port), STREAMER_HOST: "127.0.0.1", ...(process.env.PGSEAL_PG_BIN ? { PGSEAL_PG_BIN: process.env.PGSEAL_PG_BIN } : {}) },
    detached: true, // its own group: a stop reaches the pg_dump it runs too
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${process.execPath} ${SERVER}`);
  let stdout = "";
  let all = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => ((stdout += d), (all += d)));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (all += d));
  // 'close', not 'exit': only then has all its output been read (a test reads the last log line after stop()).
  // Nothing else holds its stdout or stderr: its own children get pipes of their own.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  /** Reaped: its pid may belong to another process now, so it is never signalled again. */
  let reaped = false;
  child.once("exit", () => (reaped = true));
  /** Reaped and all its output read. */
  let gone = false;
  void exited.then(() => (gone = true));

  const events = () =>
    stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const waitForEvent = async (pred: (e: Record<string, unknown>) => boolean, timeoutMs = READY_TIMEOUT_MS) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = events().find(pred);
      if (hit) return hit;
      if (gone) throw new Error(`the streamer exited before logging what was awaited; output:\n${all}`);
      if (Date.now() > deadline) throw new Error(`the streamer did not log what was awaited within ${timeoutMs} ms; output:\n${all}`);
      await sleep(POLL_MS);
    }
  };
  const stop = async (): Promise<number | null> => {
    untrack();
    // The runtime signals the container's main process only, not its children: so do we.
    if (!reaped) process.kill(pid, "SIGTERM");
    if (!(await waitGone([pid], STOP_TIMEOUT_MS))) signalGroup(pid, "SIGKILL");
    const code = await exited;
    signalGroup(pid, "SIGKILL"); // a pg_dump it left behind
    return code;
  };
  const untrack = track({ label: `streamer ${pid}`, pids: [pid], urgentSignal: "SIGTERM", stop: async () => void (await stop()) });

  try {
    const listening = await waitForEvent((e) => e.event === "streamer.listening");
    return { url: `http://127.0.0.1:${listening.port}`, pid, output: () => all, events, waitForEvent, exited, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
