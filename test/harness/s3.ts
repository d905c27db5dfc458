// A real S3 server for tests and the demo: single-node OpenStack Swift + s3api in a temp dir.
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { AwsClient } from "aws4fetch";
import { findOnPath, swiftConfigs, SWIFT_SERVERS } from "./swift-config.ts";
import type { S3Credentials } from "./buckets.ts";
import { freePorts, logTail } from "./ports.ts";
import { signalGroup, sleep, track, waitGone } from "./registry.ts";

export type { S3Credentials };

export interface S3Server extends S3Credentials {
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
  /** Group leaders of the swift servers (for tests that prove cleanup). */
  pids: number[];
  dir: string;
}

const REGION = "us-east-1";
// tempauth credentials of the single-node setup (proxy-server.conf: user_test_tester = testing .admin).
const ACCESS_KEY_ID = "test:tester";
const SECRET_ACCESS_KEY = "testing";
const READY_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 50;
const STOP_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 3;
const SWIFT_INSTALL = "apt-get install -y --no-install-recommends swift-proxy swift-object swift-container swift-account";

export async function startS3(): Promise<S3Server> {
  let lastError: unknown;
  // A free port found by binding port 0 can be taken by someone else before swift binds it: retry.
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce();
    } catch (e) {
      lastError = e;
    }
  }
  throw lastError;
}

async function startOnce(): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), "pgseal-swift-"));
  const etc = join(dir, "etc");
  const logDir = join(dir, "log");
  for (const d of [etc, logDir, join(dir, "srv", "node", "d1")]) mkdirSync(d, { recursive: true });
  const [proxy, account, container, object, memcache] = await freePorts(5);
  const ports = { proxy, account, container, object };

  // Swift logs through syslog; a UDP sink in this process keeps those lines next to the data.
  const sink = createSocket("udp4");
  const swiftLog = join(logDir, "swift.log");
  sink.on("message", (m) => appendFileSync(swiftLog, `${m.toString("utf8")}\n`));
  await new Promise<void>((r) => sink.bind(0, "127.0.0.1", r));
  sink.unref();
  const logPort = sink.address().port;

  for (const [file, text] of Object.entries(swiftConfigs({ dir, ports, memcachePort: memcache, logPort, user: userInfo().username }))) {
    writeFileSync(join(etc, file), text);
  }
  const pids: number[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // Untracked only once gone: a process.exit() during this stop (an exit hook of another library on
      // SIGINT, say) must still find the entry and remove the dir synchronously (registry.ts).
      for (const pid of pids) signalGroup(pid, "SIGTERM");
      if (!(await waitGone(pids, STOP_TIMEOUT_MS))) for (const pid of pids) signalGroup(pid, "SIGKILL");
      await waitGone(pids, STOP_TIMEOUT_MS);
      for (const pid of pids) signalGroup(pid, "SIGKILL"); // anything a server forked and left behind
      sink.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      untrack();
    })());
  const untrack = track({ label: `swift ${proxy}`, pids, urgentSignal: "SIGTERM", dir, stop });

  try {
    const exits: string[] = [];
    for (const name of SWIFT_SERVERS) {
      const bin = findOnPath(`swift-${name}-server`);
      if (!bin) throw new Error(`swift-${name}-server not found on PATH: ${SWIFT_INSTALL}`);
      const out = join(logDir, `${name}.out`);
      const fd = openSync(out, "a");
      const child = spawn(bin, [join(etc, `${name}-server.conf`)], {
        cwd: dir,
        detached: true, // a group leader: stop() signals the server together with any worker it forks
        stdio: ["ignore", fd, fd],
      });
      closeSync(fd);
      child.unref();
      child.on("exit", (code, signal) => exits.push(`swift-${name}-server exited (${code ?? signal}): ${logTail(out, 10)}`));
      child.on("error", (e) => exits.push(`swift-${name}-server: ${e.message}`));
      if (child.pid !== undefined) pids.push(child.pid);
    }
    const endpoint = `http://127.0.0.1:${proxy}`;
    const client = new AwsClient({ accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY, region: REGION, service: "s3" });
    await waitReady(endpoint, client, [account, container, object], exits, swiftLog);
    return {
      endpoint,
      region: REGION,
      accessKeyId: ACCESS_KEY_ID,
      secretAccessKey: SECRET_ACCESS_KEY,
      pids,
      dir,
      async createBucket(name) {
        const res = await client.fetch(`${endpoint}/${encodeURIComponent(name)}`, { method: "PUT" });
        const body = await res.text();
        if (!res.ok) throw new Error(`creating bucket ${name} failed: HTTP ${res.status} ${body.slice(0, 500)}`);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Ready means the whole chain answers: every storage port accepts and a signed ListBuckets gets 200. */
async function waitReady(endpoint: string, client: AwsClient, storagePorts: number[], exits: string[], swiftLog: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = "";
  for (;;) {
    if (exits.length > 0) throw new Error(`swift did not start: ${exits.join("; ")}`);
    if (Date.now() > deadline) throw new Error(`swift not ready after ${READY_TIMEOUT_MS} ms (${last}); log: ${logTail(swiftLog, 10)}`);
    try {
      await Promise.all(storagePorts.map(tcpAccepts));
      const health = await fetch(`${endpoint}/healthcheck`);
      const text = await health.text();
      if (text !== "OK") throw new Error(`healthcheck said ${health.status} ${text.slice(0, 80)}`);
      const list = await client.fetch(`${endpoint}/`);
      await list.arrayBuffer();
      if (list.status === 200) return;
      last = `ListBuckets answered ${list.status}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(READY_POLL_MS);
  }
}

function tcpAccepts(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve();
    });
    s.once("error", reject);
  });
}
