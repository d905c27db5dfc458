// The local seam's container life cycle against the real streamer process: start, forward, exit on silence, stop.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEALTH_MISSES_FOR_EXIT, HEALTH_POLL_MS, LocalProcessContainer, NOT_LISTENING_MESSAGE, STREAMER_PORT } from "../src/do/local-process-container.ts";
import { spawnStreamer, type StreamerProcess } from "./harness/streamer.ts";

/** The library reads the exit code from the end of this message (@cloudflare/containers getExitCodeFromError). */
const LIBRARY_EXIT_RE = /container exited with unexpected exit code: (\d+)$/;
const EXIT_NOTICED_WITHIN_MS = (HEALTH_MISSES_FOR_EXIT + 2) * HEALTH_POLL_MS;

let shared: StreamerProcess;

beforeAll(async () => {
  shared = await spawnStreamer();
});

afterAll(async () => {
  await shared?.stop();
});

describe("LocalProcessContainer with the real streamer", () => {
  it("forwards getTcpPort(8080).fetch to the streamer, path and method included", async () => {
    const seam = new LocalProcessContainer(shared.url);
    seam.start();
    try {
      const health = await seam.getTcpPort(STREAMER_PORT).fetch("http://container/health");
      expect(await health.json()).toMatchObject({ ok: true, pgDump: expect.stringMatching(/^\d+/) });
      const del = await seam.getTcpPort(STREAMER_PORT).fetch(new Request("http://container/jobs/nothing-here", { method: "DELETE" }));
      expect(del.status).toBe(404);
      expect(await del.json()).toMatchObject({ error: { code: "JOB_NOT_FOUND" } });
    } finally {
      await seam.destroy();
    }
  });

  it("refuses start() while running, as the runtime does, and starts again after a stop", async () => {
    const seam = new LocalProcessContainer(shared.url);
    seam.start();
    expect(() => seam.start()).toThrow(/already running/);
    seam.signal(15);
    expect(seam.running).toBe(false);
    seam.start();
    expect(seam.running).toBe(true);
    await seam.destroy();
  });

  it("resolves monitor() when destroyed or signalled, and leaves the shared streamer running", async () => {
    const seam = new LocalProcessContainer(shared.url);
    seam.start();
    const first = seam.monitor();
    await seam.destroy();
    await expect(first).resolves.toBeUndefined();
    seam.start();
    const second = seam.monitor();
    seam.signal(15);
    await expect(second).resolves.toBeUndefined();
    expect(seam.running).toBe(false);
    await expect(seam.getTcpPort(STREAMER_PORT).fetch("http://container/health")).rejects.toThrow(NOT_LISTENING_MESSAGE);
    expect((await fetch(`${shared.url}/health`)).status).toBe(200);
  });

  it("turns a refused connection into 'the container is not listening', then ends the instance with exit code 1 once /health stays silent", async () => {
    const own = await spawnStreamer();
    const seam = new LocalProcessContainer(own.url);
    seam.start();
    const exited = seam.monitor();
    expect((await seam.getTcpPort(STREAMER_PORT).fetch("http://container/health")).status).toBe(200);
    expect(await own.stop()).toBe(0);

    const refused = await seam
      .getTcpPort(STREAMER_PORT)
      .fetch("http://container/health")
      .catch((e: unknown) => e as Error);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toContain(`${NOT_LISTENING_MESSAGE}: the local streamer at ${new URL(own.url).origin} did not answer`);
    expect(seam.running).toBe(true); // one refused request is not yet an exit

    const started = Date.now();
    const error = await exited.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(Date.now() - started).toBeLessThan(EXIT_NOTICED_WITHIN_MS);
    expect(error?.message).toMatch(LIBRARY_EXIT_RE);
    expect(LIBRARY_EXIT_RE.exec(error!.message)![1]).toBe("1");
    expect(seam.running).toBe(false);
  });

  it("ends an instance started while nothing listens within a few health polls", async () => {
    const gone = await spawnStreamer();
    await gone.stop();
    const seam = new LocalProcessContainer(gone.url, { healthPollMs: 20 });
    seam.start();
    await expect(seam.monitor()).rejects.toThrow(LIBRARY_EXIT_RE);
    expect(seam.running).toBe(false);
  });
});
