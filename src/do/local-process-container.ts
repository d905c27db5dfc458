// The local seam (docs/ARCHITECTURE.md, "The local container seam"): the runtime's container API, served by a streamer already running as a local process.
// Web APIs only, so the same file runs in workerd (Worker tests, demo) and in Node (its own tests).

/** The message @cloudflare/containers looks for to keep waiting for a port instead of failing. */
export const NOT_LISTENING_MESSAGE = "the container is not listening";
/** The library reads an exit code from the end of an error message in exactly this form. */
const EXIT_CODE_MESSAGE = "container exited with unexpected exit code:";
/** How often a running seam asks the streamer whether it is still alive. */
export const HEALTH_POLL_MS = 1_000;
export const HEALTH_TIMEOUT_MS = 2_000;
/**
 * Misses in a row before the "container" counts as exited. One miss could be a blip; three cost
 * about three seconds, while DatabaseBackups' own polls notice an outage from the first failed poll.
 */
export const HEALTH_MISSES_FOR_EXIT = 3;
/** The exit code a vanished streamer reports: it did not stop because anyone asked it to. */
export const LOST_EXIT_CODE = 1;
/** The only port the image listens on (container/Dockerfile EXPOSE). */
export const STREAMER_PORT = 8080;
/** Survives the Durable Object being evicted, as a real container outlives its object's instance. */
const RUNNING_KEY = "pgseal:local-container:running";

/** The synchronous KV of a SQLite Durable Object (ctx.storage.kv), as far as the seam needs it. */
export interface SeamKv {
  get(key: string): unknown;
  put(key: string, value: unknown): void;
  delete(key: string): boolean;
}

export interface SeamOptions {
  kv?: SeamKv;
  port?: number;
  healthPollMs?: number;
  healthTimeoutMs?: number;
  healthMissesForExit?: number;
}

interface Instance {
  exited: Promise<void>;
  end(error?: Error): void;
}

function notListening(detail: string, cause?: unknown): Error {
  return new Error(`${NOT_LISTENING_MESSAGE}: ${detail}`, cause === undefined ? undefined : { cause });
}

/**
 * What @cloudflare/containers uses of `ctx.container` (0.3.x): running, start, monitor,
 * getTcpPort(port).fetch, signal, destroy; plus setInactivityTimeout. Outbound interception is
 * refused: PgDumpContainer configures none, so the library never asks for it.
 */
export class LocalProcessContainer {
  readonly #base: URL;
  readonly #kv: SeamKv | undefined;
  readonly #port: number;
  readonly #pollMs: number;
  readonly #timeoutMs: number;
  readonly #misses: number;
  #running: boolean;
  #instance: Instance | undefined;

  constructor(streamerUrl: string, opts: SeamOptions = {}) {
    this.#base = new URL(streamerUrl);
    this.#kv = opts.kv;
    this.#port = opts.port ?? STREAMER_PORT;
    this.#pollMs = opts.healthPollMs ?? HEALTH_POLL_MS;
    this.#timeoutMs = opts.healthTimeoutMs ?? HEALTH_TIMEOUT_MS;
    this.#misses = opts.healthMissesForExit ?? HEALTH_MISSES_FOR_EXIT;
    this.#running = this.#kv?.get(RUNNING_KEY) === true;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Like the runtime: synchronous, and an error when already running. Whether it answers is learned by polling. */
  start(_options?: unknown): void {
    if (this.#running) throw new Error("start() cannot be called on a container that is already running.");
    this.#setRunning(true);
    this.#instance = undefined;
    this.#watch();
  }

  /** Resolves when the container is stopped on purpose; rejects with an exit code when the streamer vanished. */
  monitor(): Promise<void> {
    if (!this.#running) return Promise.reject(new Error("monitor() needs a running container"));
    return this.#watch().exited;
  }

  getTcpPort(port: number): { fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> } {
    return {
      fetch: async (input, init) => {
        const request = new Request(input, init);
        if (!this.#running) throw notListening(`no container is running (port ${port})`);
        if (port !== this.#port) throw notListening(`the streamer listens on port ${this.#port}, not ${port}`);
        const incoming = new URL(request.url);
        const url = new URL(`${incoming.pathname}${incoming.search}`, this.#base);
        try {
          return await fetch(new Request(url, request));
        } catch (e) {
          if (request.signal.aborted) throw e; // the caller gave up: not a statement about the container
          throw notListening(`the local streamer at ${this.#base.origin} did not answer`, e);
        }
      },
    };
  }

  /** The local streamer is shared and not ours to kill: the signal ends this container instance only. */
  signal(_signo: number): void {
    this.#stop();
  }

  async destroy(_error?: unknown): Promise<void> {
    this.#stop();
  }

  async setInactivityTimeout(_durationMs: number | bigint): Promise<void> {
    // The seam never sleeps on its own; the library's sleepAfter still stops it.
  }

  async interceptOutboundHttp(): Promise<void> {
    throw new Error("the local container seam does not intercept outbound traffic");
  }

  async interceptAllOutboundHttp(): Promise<void> {
    throw new Error("the local container seam does not intercept outbound traffic");
  }

  async interceptOutboundHttps(): Promise<void> {
    throw new Error("the local container seam does not intercept outbound traffic");
  }

  #setRunning(running: boolean): void {
    this.#running = running;
    if (running) this.#kv?.put(RUNNING_KEY, true);
    else this.#kv?.delete(RUNNING_KEY);
  }

  #stop(): void {
    if (!this.#running) return;
    this.#setRunning(false);
    this.#instance?.end();
    this.#instance = undefined;
  }

  /** The current instance, polling /health while it runs; created on first use. */
  #watch(): Instance {
    if (this.#instance) return this.#instance;
    let settle!: { resolve: () => void; reject: (e: Error) => void };
    const exited = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    exited.catch(() => {}); // nobody may be monitoring
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ended = false;
    const instance: Instance = {
      exited,
      end: (error) => {
        if (ended) return;
        ended = true;
        if (timer !== undefined) clearTimeout(timer);
        if (error) settle.reject(error);
        else settle.resolve();
      },
    };
    let missed = 0;
    const poll = async () => {
      missed = (await this.#alive()) ? 0 : missed + 1;
      if (ended) return;
      if (missed >= this.#misses) {
        this.#setRunning(false);
        if (this.#instance === instance) this.#instance = undefined;
        instance.end(new Error(`the local streamer at ${this.#base.origin} stopped answering /health: ${EXIT_CODE_MESSAGE} ${LOST_EXIT_CODE}`));
        return;
      }
      timer = setTimeout(poll, this.#pollMs);
    };
    void poll();
    this.#instance = instance;
    return instance;
  }

  /** Any HTTP answer means the process is up; only silence means it is gone. */
  async #alive(): Promise<boolean> {
    try {
      const res = await fetch(new URL("/health", this.#base), { signal: AbortSignal.timeout(this.#timeoutMs) });
      await res.body?.cancel();
      return true;
    } catch {
      return false;
    }
  }
}

/** The parts of a Durable Object's state and env the decision needs (plain objects in tests). */
export interface SeamContext {
  container?: unknown;
  storage?: { kv?: SeamKv };
}

/**
 * Installs the seam on `ctx.container`, before the Container constructor reads it, when the
 * runtime provides no container AND `STREAMER_URL` is set. Production has a container, so it can
 * never get here; without STREAMER_URL nothing is installed and the library fails as it always does.
 */
export function installLocalContainer(ctx: SeamContext, env: { STREAMER_URL?: unknown }): LocalProcessContainer | undefined {
  if (ctx.container !== undefined) return undefined;
  if (typeof env.STREAMER_URL !== "string" || env.STREAMER_URL === "") return undefined;
  const seam = new LocalProcessContainer(env.STREAMER_URL, { kv: ctx.storage?.kv });
  // A plain assignment is not enough on the runtime's object, and a Proxy around ctx is rejected.
  Object.defineProperty(ctx, "container", { value: seam, configurable: true, enumerable: true });
  return seam;
}
