// PgDumpContainer on the local seam in workerd: @cloudflare/containers drives the real streamer, lifecycle
// hooks reach DatabaseBackups, and the seam is only ever installed without a runtime container and with STREAMER_URL.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DatabaseBackups } from "../../src/do/database-backups.ts";
import { installLocalContainer, LocalProcessContainer, NOT_LISTENING_MESSAGE } from "../../src/do/local-process-container.ts";
import { PgDumpContainer } from "../../src/do/pg-dump-container.ts";
import { backups, waitFor } from "./helpers.ts";

// Names outside PGSEAL_CONFIG: DatabaseBackups records container events for any name it is addressed by.
const container = (db: string) => env.PG_DUMP_CONTAINER.getByName(db);
const streamerUrl = () => String((env as unknown as Record<string, unknown>).STREAMER_URL);

async function lastContainerEvent(db: string): Promise<{ kind: string; detail?: string; at: number } | null> {
  const raw = await runInDurableObject(backups(db), (o: DatabaseBackups) => o.store.getMeta("last_container_event"));
  return raw === null ? null : JSON.parse(raw);
}

describe("PgDumpContainer on the local seam", () => {
  it("forwards a request through the Durable Object stub to the local streamer and reports the start to DatabaseBackups", async () => {
    const res = await container("seam-start").fetch(new Request("http://container/health"));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, version: expect.any(String), pgDump: expect.stringMatching(/^\d+/) });
    expect(await waitFor("the start event", async () => (await lastContainerEvent("seam-start")) ?? undefined)).toMatchObject({ kind: "start" });
    const running = await runInDurableObject(container("seam-start"), (_o: PgDumpContainer, state) => state.container?.running);
    expect(running).toBe(true);
  });

  it("reports a stop with its exit code to DatabaseBackups, and starts again on the next request", async () => {
    const db = "seam-stop";
    expect((await container(db).fetch(new Request("http://container/health"))).status).toBe(200);
    await waitFor("the start event", async () => ((await lastContainerEvent(db))?.kind === "start" ? true : undefined));
    await runInDurableObject(container(db), async (o: PgDumpContainer, state) => {
      await o.stop();
      expect(state.container?.running).toBe(false);
    });
    expect(await waitFor("the stop event", async () => ((await lastContainerEvent(db))?.kind === "stop" ? lastContainerEvent(db) : undefined))).toMatchObject({
      kind: "stop",
      detail: "exit code 0 (exit)",
    });
    expect((await container(db).fetch(new Request("http://container/jobs/none"))).status).toBe(404);
    expect(await waitFor("a new start event", async () => ((await lastContainerEvent(db))?.kind === "start" ? true : undefined))).toBe(true);
  });

  it("keeps the container running across a new object instance over the same storage, as a real container outlives its object", async () => {
    const db = "seam-evict";
    expect((await container(db).fetch(new Request("http://container/health"))).status).toBe(200);
    const fresh = await runInDurableObject(container(db), (_o: PgDumpContainer, state) => new LocalProcessContainer(streamerUrl(), { kv: state.storage.kv }).running);
    expect(fresh).toBe(true);
  });

  it("answers 'the container is not listening' for a port the streamer does not listen on", async () => {
    const seam = new LocalProcessContainer(streamerUrl());
    seam.start();
    try {
      expect((await seam.getTcpPort(8080).fetch("http://ping/health")).status).toBe(200);
      await expect(seam.getTcpPort(9000).fetch("http://ping/health")).rejects.toThrow(NOT_LISTENING_MESSAGE);
    } finally {
      await seam.destroy();
    }
    await expect(seam.getTcpPort(8080).fetch("http://ping/health")).rejects.toThrow(NOT_LISTENING_MESSAGE);
  });

  it("is not installed when the runtime provides a container, even with STREAMER_URL set", () => {
    const runtimeContainer = { running: false };
    const ctx = { container: runtimeContainer };
    expect(installLocalContainer(ctx, { STREAMER_URL: streamerUrl() })).toBeUndefined();
    expect(ctx.container).toBe(runtimeContainer);
  });

  it("without STREAMER_URL installs nothing, and the constructor fails as @cloudflare/containers does without a container", async () => {
    const ctx: { container?: unknown } = {};
    expect(installLocalContainer(ctx, {})).toBeUndefined();
    expect(installLocalContainer(ctx, { STREAMER_URL: "" })).toBeUndefined();
    expect(ctx.container).toBeUndefined();
    // A real Durable Object state without a container: JobSlots is a plain SQLite object.
    await runInDurableObject(env.JOB_SLOTS.getByName("seam-no-container"), (_o, state) => {
      const { STREAMER_URL: _, ...production } = env as unknown as Record<string, unknown>;
      expect(() => new PgDumpContainer(state as DurableObjectState<{}>, production as unknown as Env)).toThrow(/Containers have not been enabled/);
      expect(state.container).toBeUndefined();
    });
  });
});
