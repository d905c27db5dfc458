// PgDumpContainer: the streamer image as a Durable Object (one per database). Thin on purpose: image,
// port, sleep and network settings, and lifecycle hooks that report to the database's DatabaseBackups.
import { Container, type StopParams } from "@cloudflare/containers";
import type { ContainerEvent } from "./rpc-types.ts";
import { installLocalContainer, STREAMER_PORT } from "./local-process-container.ts";

/** DatabaseBackups may name its database in this header, for runtimes whose ids carry no name. */
export const DB_HEADER = "x-pgseal-db";
const DB_NAME_KEY = "pgseal:db";
/** The streamer job the running container accepted last (kept across evictions, as the container outlives them). */
const JOB_ID_KEY = "pgseal:job";
const MAX_DETAIL_CHARS = 300;

/** STREAMER_URL is never configured in production: only tests and the demo set it (docs/ARCHITECTURE.md, the local seam). */
type SeamEnv = Env & { STREAMER_URL?: string; CONTAINER_SLEEP_AFTER?: string };
/** What @cloudflare/containers reads as a duration: seconds, or a number with s, m or h. */
const DURATION = /^\d+[smh]?$/;

export class PgDumpContainer extends Container<Env> {
  defaultPort = STREAMER_PORT;
  // A job's polls renew activity every few seconds; five idle minutes after the last one, it sleeps.
  sleepAfter = "5m";
  // pg_dump must reach the database and the upload the bucket: both are on the internet.
  enableInternet = true;

  constructor(ctx: DurableObjectState<Record<string, never>>, env: Env) {
    // Before super(): the library reads ctx.container in its constructor and throws without one.
    installLocalContainer(ctx, env as SeamEnv);
    super(ctx, env);
    // A shorter idle time for local runs (the container tier waits seconds for a sleep, not minutes).
    const sleepAfter = (env as SeamEnv).CONTAINER_SLEEP_AFTER;
    if (sleepAfter !== undefined && DURATION.test(sleepAfter)) this.sleepAfter = sleepAfter;
    else if (sleepAfter !== undefined) console.warn(`PgDumpContainer: CONTAINER_SLEEP_AFTER '${sleepAfter}' is not a duration like 30s, 5m or 1h; keeping ${this.sleepAfter}`);
  }

  override async fetch(request: Request): Promise<Response> {
    const db = request.headers.get(DB_HEADER);
    if (db && !this.ctx.id.name && this.ctx.storage.kv.get(DB_NAME_KEY) !== db) this.ctx.storage.kv.put(DB_NAME_KEY, db);
    const jobId = request.method === "POST" && new URL(request.url).pathname === "/jobs" ? await postedJobId(request) : undefined;
    const response = await super.fetch(request);
    // Only once this container took the job: a stop the library reports while starting it belongs to the one before.
    if (jobId && response.ok) this.ctx.storage.kv.put(JOB_ID_KEY, jobId);
    return response;
  }

  override onStart(): void {
    this.#report({ kind: "start" });
  }

  /**
   * Tagged with the job that container had accepted: @cloudflare/containers reports a container that vanished
   * while this object was down only during the next start, and that must not end the next job's attempt.
   */
  override onStop(params: StopParams): void {
    this.#report({ kind: "stop", detail: `exit code ${params.exitCode} (${params.reason})`, ...this.#jobTag() });
  }

  /** Reported, not rethrown: the library has already failed the request or marked the container stopped. */
  override onError(error: unknown): void {
    const detail = error instanceof Error ? error.message : String(error);
    this.#report({ kind: "error", detail: detail.slice(0, MAX_DETAIL_CHARS), ...this.#jobTag() });
  }

  #jobTag(): { jobId?: string } {
    const jobId = this.ctx.storage.kv.get(JOB_ID_KEY);
    return typeof jobId === "string" ? { jobId } : {};
  }

  /** The database this container serves: the name it was addressed by, else the one a request named. */
  get db(): string | undefined {
    return this.ctx.id.name ?? (this.ctx.storage.kv.get(DB_NAME_KEY) as string | undefined);
  }

  /**
   * In the background: DatabaseBackups may end a job on this news and talk to this container
   * again, which must not wait for the library's start or stop sequence that called the hook.
   */
  #report(event: ContainerEvent): void {
    const db = this.db;
    if (!db) {
      console.warn(`PgDumpContainer ${this.ctx.id}: container ${event.kind} not reported, the database name is unknown`);
      return;
    }
    const backups = this.env.DATABASE_BACKUPS.get(this.env.DATABASE_BACKUPS.idFromName(db));
    this.ctx.waitUntil(
      backups.containerEvent(event).then(
        () => undefined,
        (e: unknown) => console.error(`PgDumpContainer ${db}: reporting container ${event.kind} failed: ${e instanceof Error ? e.message : String(e)}`),
      ),
    );
  }
}

/** The jobId of a POST /jobs body (docs/STREAMER-API.md), read from a copy; undefined when there is none. */
async function postedJobId(request: Request): Promise<string | undefined> {
  try {
    const body: unknown = await request.clone().json();
    const id = body && typeof body === "object" ? (body as { jobId?: unknown }).jobId : undefined;
    return typeof id === "string" ? id : undefined;
  } catch {
    // Not JSON: the streamer answers 400 itself, and no job was taken.
    return undefined;
  }
}
