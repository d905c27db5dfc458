// The chunk pool: a buffer comes back only after every holder released it, and the runner releases a stage's chunk only after its write resolved.
import { describe, expect, it } from "vitest";
import { ChunkPool } from "./chunk-pool.ts";
import { runPipeline, stage } from "./pipeline.ts";

describe("ChunkPool", () => {
  it("hands a buffer out again only after every holder released it", () => {
    const pool = new ChunkPool({ chunkBytes: 8, holders: 3 });
    const a = pool.acquire();
    pool.release(a);
    pool.release(a);
    expect(pool.acquire()).not.toBe(a); // one hold left: a is still in use
    pool.release(a);
    expect(pool.acquire()).toBe(a);
    expect([pool.made, pool.reused]).toEqual([2, 1]);
  });

  it("ignores a chunk it did not hand out, such as the view a partial last chunk is", () => {
    const pool = new ChunkPool({ chunkBytes: 8, holders: 1 });
    const a = pool.acquire();
    pool.release(a.subarray(0, 4));
    pool.release(new Uint8Array(8));
    expect(pool.acquire()).not.toBe(a);
  });

  it("poisons a returned buffer when asked, and keeps no more free buffers than `keep`", () => {
    const pool = new ChunkPool({ chunkBytes: 4, holders: 1, keep: 1, poison: true });
    const [a, b] = [pool.acquire(), pool.acquire()];
    a.set([1, 2, 3, 4]);
    pool.release(a);
    pool.release(b);
    expect(a).toEqual(new Uint8Array([0xa5, 0xa5, 0xa5, 0xa5]));
    expect(pool.acquire()).toBe(a);
    expect(pool.acquire()).not.toBe(b); // b was dropped: the pool kept one
  });
});

describe("the runner's written hook", () => {
  it("releases a chunk only once the stage's write of it resolved, and never a chunk that was not written", async () => {
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const chunks = [new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])];
    let i = 0;
    const slow = new TransformStream<Uint8Array, Uint8Array>({
      async transform(c, ctl) {
        events.push(`take ${c[0]}`);
        if (c[0] === 2) await gate; // the stage is still busy with chunk 2
        events.push(`done ${c[0]}`);
        ctl.enqueue(c);
        if (c[0] === 2) throw new Error("stage failed on 2");
      },
    });
    const run = runPipeline({
      source: { name: "src", readable: new ReadableStream({ pull: (c) => (i < chunks.length ? c.enqueue(chunks[i++]) : c.close()) }) },
      stages: [{ ...stage("slow", slow), written: (c) => events.push(`written ${c[0]}`) }],
      sink: { name: "sink", writable: new WritableStream() },
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual(["take 1", "done 1", "written 1", "take 2"]);
    release();
    await expect(run).rejects.toThrow("stage failed on 2");
    expect(events).toEqual(["take 1", "done 1", "written 1", "take 2", "done 2"]);
  });
});
