// The container tier's Docker side: packages, a dockerd for the run, and the images (real where reachable, stand-ins where not).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../container/src/run-command.ts";
import { logTail } from "../../test/harness/ports.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const TIER_DIR = new URL("./", import.meta.url).pathname;
/** Debian's CLI when docker.io is installed (it matches its engine and needs no buildx); else whatever PATH has. */
export const DOCKER = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
export const STREAMER_IMAGE = "pgseal-streamer:tier";
const NODE_IMAGE = "node:24-bookworm-slim";
const BASE_IMAGE = "pgseal-tier/debian:bookworm";
/** What workerd pulls for its network sidecar (wrangler's DEFAULT_CONTAINER_EGRESS_INTERCEPTOR_IMAGE). */
const SIDECAR_IMAGE = "cloudflare/proxy-everything:3cb1195@sha256:0ef6716c52430096900b150d84a3302057d6cd2319dae7987128c85d0733e3c8";
const SIDECAR_STAND_IN = "pgseal-tier/proxy-everything-stand-in:1";
const PGDG_PROBE = "https://apt.postgresql.org/pub/repos/apt/dists/bookworm-pgdg/Release";
const DEBIAN_MIRROR = process.env.PGSEAL_TIER_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
const PULL_TIMEOUT_MS = 120_000;

export async function docker(args: string[], what: string, opts: { input?: string } = {}): Promise<string> {
  const r = await runCommand(DOCKER, args, { env: process.env, input: opts.input });
  if (r.code !== 0) throw new Error(`${what} failed (docker ${args.slice(0, 2).join(" ")}): ${(r.stderr || r.stdout).trim().split("\n").slice(-15).join("\n")}`);
  return r.stdout.trim();
}

async function ok(file: string, args: string[]): Promise<boolean> {
  return (await runCommand(file, args, { env: process.env })).code === 0;
}

async function has(command: string): Promise<boolean> {
  return ok("sh", ["-c", `command -v ${command}`]);
}

/** Installs Debian's docker.io and debootstrap when missing (root only: the tier says what to run otherwise). */
export async function ensurePackages(): Promise<string> {
  const missing = [];
  if (!(await has("dockerd"))) missing.push("docker.io");
  if (!(await has("debootstrap"))) missing.push("debootstrap");
  if (missing.length === 0) return "docker.io and debootstrap present";
  if (process.getuid?.() !== 0) throw new Error(`${missing.join(" and ")} missing and this is not root: run 'sudo apt-get install -y ${missing.join(" ")}', then again`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [
    ["update", "-qq"],
    ["install", "-y", "-qq", "--no-install-recommends", ...missing],
  ]) {
    const r = await runCommand("apt-get", args, { env });
    if (r.code !== 0) throw new Error(`apt-get ${args[0]} failed: ${r.stderr.trim().split("\n").slice(-5).join("\n")}`);
  }
  return `installed ${missing.join(", ")}`;
}

/**
 * For a run that ends before it could stop its own group (a signal while starting): SIGTERM on the way out
 * (exit handlers are synchronous, so no waiting). Returns the handler, for close() to remove.
 */
export function stopOnExit(child: ChildProcess, group = true): () => void {
  const handler = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(group ? -child.pid! : child.pid!, "SIGTERM");
    } catch {
      // Already gone between the check and the signal: nothing left to stop.
    }
  };
  process.on("exit", handler);
  return handler;
}

export interface Dockerd {
  /** The bridge network's gateway: the host address containers reach (workerd needs the default bridge). */
  gateway: string;
  /** Whether this run started it (and so stops it). */
  started: boolean;
  stop(): Promise<void>;
}

export async function bridgeGateway(): Promise<string | null> {
  const r = await runCommand(DOCKER, ["network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}"], { env: process.env });
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/**
 * A dockerd for this run: Docker's default bridge (workerd runs its sidecar there) without NAT
 * (--iptables=false: containers reach this host only) and with published ports on loopback only.
 * An engine that already answers is used as it is, and left running.
 */
export async function startDockerd(dir: string): Promise<Dockerd> {
  if (await ok(DOCKER, ["info", "--format", "{{.ServerVersion}}"])) {
    const gateway = await bridgeGateway();
    if (!gateway) throw new Error("the running Docker engine has no 'bridge' network with a gateway, which workerd needs: start dockerd without --bridge=none");
    return { gateway, started: false, stop: async () => {} };
  }
  const log = join(dir, "dockerd.log");
  const fd = openSync(log, "a");
  const child = spawn("dockerd", ["--iptables=false", "--ip=127.0.0.1", "--bip=172.17.0.1/16"], { detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const orphaned = stopOnExit(child, false);
  const stop = async () => {
    process.off("exit", orphaned);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
    if (!done) {
      child.kill("SIGKILL");
      await exited;
    }
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const gateway = await bridgeGateway();
    if (gateway) return { gateway, started: true, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd did not come up (is another engine using /var/run/docker.sock?):\n${logTail(log)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function present(image: string): Promise<boolean> {
  return ok(DOCKER, ["image", "inspect", image]);
}

async function pull(image: string): Promise<boolean> {
  const child = spawn(DOCKER, ["pull", "-q", image], { stdio: "ignore" });
  const timer = setTimeout(() => child.kill("SIGTERM"), PULL_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  clearTimeout(timer);
  return code === 0;
}

async function isStandIn(image: string): Promise<boolean> {
  return (await docker(["image", "inspect", image, "--format", '{{index .Config.Labels "org.pgseal.stand-in"}}'], "inspecting an image")) !== "";
}

/** The real image when it is here or can be pulled, else the stand-in `build` makes; says which. */
async function realOrStandIn(image: string, build: () => Promise<void>): Promise<string> {
  if (await present(image)) return (await isStandIn(image)) ? `${image}: the local STAND-IN (built by an earlier run)` : `${image}: present`;
  if (await pull(image)) return `${image}: pulled`;
  await build();
  return `${image}: unreachable, built a local STAND-IN`;
}

/** node:24-bookworm-slim, or a stand-in: debootstrap minbase bookworm, docker import, this repository's Node 24. */
export async function nodeImage(dir: string): Promise<string> {
  return realOrStandIn(NODE_IMAGE, async () => {
    if (!(await present(BASE_IMAGE))) {
      const rootfs = join(dir, "rootfs");
      const r = await runCommand("debootstrap", ["--variant=minbase", "bookworm", rootfs, DEBIAN_MIRROR], { env: process.env });
      if (r.code !== 0) throw new Error(`debootstrap failed: ${r.stderr.trim().split("\n").slice(-5).join("\n")}`);
      const tar = await runCommand("sh", ["-c", `tar -C '${rootfs}' -c . | '${DOCKER}' import - '${BASE_IMAGE}'`], { env: process.env });
      rmSync(rootfs, { recursive: true, force: true });
      if (tar.code !== 0) throw new Error(`docker import of the debootstrap'ed root failed: ${tar.stderr.trim()}`);
    }
    const ctx = join(dir, "node-image");
    mkdirSync(ctx, { recursive: true });
    if (!process.version.startsWith("v24.")) throw new Error(`the Node stand-in copies this Node, which is ${process.version}, not 24: run through npm (node_modules/.bin/node)`);
    copyFileSync(process.execPath, join(ctx, "node"));
    await docker(["build", "-q", "--network", "none", "--build-arg", `BASE=${BASE_IMAGE}`, "-t", NODE_IMAGE, "-f", join(TIER_DIR, "node-image.Dockerfile"), ctx], "building the Node stand-in");
    rmSync(ctx, { recursive: true, force: true });
  });
}

/**
 * workerd's network sidecar. Returns the image to name in MINIFLARE_CONTAINER_EGRESS_IMAGE (undefined: the
 * real one) and what happened.
 */
export async function sidecarImage(): Promise<{ image: string | undefined; note: string }> {
  if (await present(SIDECAR_IMAGE)) return { image: undefined, note: "cloudflare/proxy-everything: present" };
  if (await pull(SIDECAR_IMAGE)) return { image: undefined, note: "cloudflare/proxy-everything: pulled" };
  // Cached by layer: cheap when it was built before.
  await docker(["build", "-q", "--network", "host", "-t", SIDECAR_STAND_IN, "-f", join(TIER_DIR, "sidecar.Dockerfile"), TIER_DIR], "building the sidecar stand-in");
  return { image: SIDECAR_STAND_IN, note: `cloudflare/proxy-everything: unreachable, using the local STAND-IN ${SIDECAR_STAND_IN} (scripts/container-tier/proxy-standin.mjs)` };
}

/** The PostgreSQL packages the image takes: PGDG's newest major when apt.postgresql.org answers, else Debian's. */
export async function postgresBuildArgs(): Promise<{ args: string[]; note: string }> {
  try {
    const res = await fetch(PGDG_PROBE, { method: "HEAD", signal: AbortSignal.timeout(8_000) });
    if (res.ok) return { args: [], note: "apt.postgresql.org reachable: the production build (PGDG, newest major)" };
  } catch {
    // Unreachable is an answer: the substitute below.
  }
  return { args: ["PG_APT=debian", "PG_MAJOR=15", "PG_EXTENSIONS=postgis-3"], note: "apt.postgresql.org unreachable: SUBSTITUTE Debian's PostgreSQL 15 (+ PostGIS) through build args" };
}

/** Builds container/Dockerfile as wrangler will (same context and args, so wrangler's build is then cached); its size in bytes. */
export async function streamerImage(buildArgs: string[]): Promise<number> {
  const args = ["build", "-q", "--network", "host", ...buildArgs.flatMap((a) => ["--build-arg", a]), "-t", STREAMER_IMAGE, "-f", join(ROOT, "container/Dockerfile"), ROOT];
  const r = await runCommand(DOCKER, args, { env: { ...process.env, DOCKER_BUILDKIT: "0" } });
  if (r.code !== 0) throw new Error(`building container/Dockerfile failed:\n${(r.stderr || r.stdout).trim().split("\n").slice(-25).join("\n")}`);
  return Number(await docker(["image", "inspect", STREAMER_IMAGE, "--format", "{{.Size}}"], "reading the image size"));
}

/** The environment wrangler needs to drive this engine: the shim, the sidecar, RUN steps on the host network. */
export function wranglerDockerEnv(buildArgs: string[], sidecar: string | undefined): Record<string, string> {
  return {
    WRANGLER_DOCKER_BIN: join(TIER_DIR, "docker-shim.sh"),
    PGSEAL_TIER_DOCKER: DOCKER,
    PGSEAL_TIER_BUILD_ARGS: buildArgs.join(" "),
    // No NAT on this bridge: build steps reach the Debian mirror through the host's network.
    WRANGLER_CI_OVERRIDE_NETWORK_MODE_HOST: "1",
    ...(sidecar ? { MINIFLARE_CONTAINER_EGRESS_IMAGE: sidecar } : {}),
  };
}
