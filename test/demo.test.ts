// `npm run demo` and `npm run dev` as a user runs them: --help starts nothing, a busy --port fails at once, and Ctrl-C on --keep leaves nothing behind.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePorts } from "./harness/ports.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const READY_TIMEOUT_MS = 300_000;
const GONE_TIMEOUT_MS = 20_000;

// Its own TMPDIR, so "nothing left" means exactly that: every temp dir the demo, its servers and wrangler made.
const tmp = mkdtempSync(join(tmpdir(), "pgseal-demo-test-"));
// The clusters run as an unprivileged user when the tests run as root: they must reach their dirs inside.
chmodSync(tmp, 0o755);
const groups: number[] = [];
afterAll(() => {
  for (const g of groups) {
    try {
      process.kill(-g, "SIGKILL");
    } catch {
      // Already gone: the normal case.
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

function run(cmd: string, args: string[]) {
  const child = spawn(cmd, args, { cwd: ROOT, detached: true, env: { ...process.env, TMPDIR: tmp }, stdio: ["ignore", "pipe", "pipe"] });
  groups.push(child.pid!);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  return { child, ended, out: () => stdout, err: () => stderr };
}

/** Entries in the demo's TMPDIR, but Node's own module compile cache (node and npm keep it there on purpose, for every run). */
function leftovers(): string[] {
  return readdirSync(tmp).filter((e) => e !== "node-compile-cache");
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw e;
  }
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("npm run demo", () => {
  it("--help prints the usage and starts nothing", async () => {
    const r = run("npm", ["run", "--silent", "demo", "--", "--help"]);
    const { code } = await r.ended;
    expect(code, r.err()).toBe(0);
    expect(r.out()).toMatch(/^usage: npm run demo .*--keep.*--port N/m);
    expect(r.out()).not.toContain("starting a throwaway PostgreSQL");
    expect(leftovers()).toEqual([]);
  });

  it("fails at once, non-zero and saying so, when --port is busy", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = run(process.execPath, ["scripts/demo.ts", "--port", String(port)]);
      const { code } = await r.ended;
      expect(code).toBe(1);
      expect(r.err()).toContain(`port ${port} is in use`);
      expect(r.out()).not.toContain("starting a throwaway PostgreSQL");
    } finally {
      busy.close();
    }
    expect(leftovers()).toEqual([]);
  });

  it("with --keep, Ctrl-C (SIGINT to the whole process group) removes every server, temp dir and the key file", async () => {
    const [port] = await freePorts(1);
    const r = run("npm", ["run", "demo", "--", "--keep", "--port", String(port)]);
    await until("the demo to be ready", () => r.out().includes("press Ctrl-C") || r.child.exitCode !== null, READY_TIMEOUT_MS);
    expect(r.out(), r.err()).toContain("press Ctrl-C");
    // The printed commands: the Worker on the asked port, a restore by name (a key would go stale), the key file in TMPDIR.
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    expect(r.out()).toMatch(/npx pgseal restore --name demo --prefix pgseal --target/);
    const keyFile = /PGSEAL_KEYRING_FILE=(\S+)/.exec(r.out())?.[1];
    expect(keyFile?.startsWith(tmp)).toBe(true);
    expect(existsSync(keyFile!)).toBe(true);
    expect(leftovers().length).toBeGreaterThan(0);

    process.kill(-r.child.pid!, "SIGINT");
    await r.ended;
    await until("every process of the demo to end", () => !groupAlive(r.child.pid!), GONE_TIMEOUT_MS);
    expect(leftovers()).toEqual([]);
  });
});

describe("npm run dev", () => {
  it("fails at once, non-zero and saying so, when --port is busy", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = run("npm", ["run", "--silent", "dev", "--", "--port", String(port)]);
      const { code } = await r.ended;
      expect(code).toBe(1);
      expect(r.err()).toContain(`port ${port} is in use: pick another with 'npm run dev -- --port N'`);
      expect(r.out()).not.toContain("starting PostgreSQL");
    } finally {
      busy.close();
    }
    expect(leftovers()).toEqual([]);
  });
});
